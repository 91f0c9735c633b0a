"""Running ComfyUI: the server, its client, headless runs, random-weight test models, and the extensions
loaded into ComfyUI.
"""
