"""The site: the MkDocs plugin, build checks, the page linter, and one file per part of the site in pages/."""
