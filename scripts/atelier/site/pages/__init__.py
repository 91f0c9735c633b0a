"""The generated parts of the site's pages, one file per part: lessons, Start here, Teach, Runbook, benchmarks,
lesson status.
"""
