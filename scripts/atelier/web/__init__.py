"""Pages a student's browser opens outside ComfyUI: the dashboard's Box app (box.py)."""
