"""Making one picture with each tool beside ComfyUI, as a student would: in Chromium, through the gate.

Used by the tools tier (the gate on this machine) and the ood tier (Open OnDemand's proxy in
front of it). The models are random-weight test models: the pictures are noise.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

STEPS = 2  # enough to run every part of the sampler; the weights are random anyway


def sample_photo(path: Path) -> Path:
    """A small picture to cut out: an orange disc on white."""
    image = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")
    image.save(path)
    return path


def remove_background(page: Page, photo: Path, model: str = "u2netp") -> None:
    """In the background remover's page: upload, pick the store's model, submit, wait for the cut-out
    (the page then saves it, "flags" it, in the outputs folder)."""
    page.set_input_files("input[type=file]", str(photo))
    served = page.locator("img[src*='gradio_api/file=']")
    expect(served).to_have_count(1, timeout=30_000)  # the upload, shown back
    models = page.get_by_label("Models")
    models.click()
    models.fill(model)
    page.keyboard.press("Enter")
    expect(models).to_have_value(model)
    page.get_by_role("button", name="Submit").click()
    expect(served).to_have_count(2, timeout=60_000)  # and the cut-out beside it


def invoke_picture(page: Page, prompt: str = "a fox in the snow") -> str:
    """In InvokeAI's page, as a student does: close the "What's New" note, type the prompt, make the picture
    small and quick (256 x 256, 2 steps), press Invoke, and wait until the gallery shows it. Returns the
    picture's name. The Invoke button stays grey until the page's socket.io connection is up: it is also
    the check that the gate carries it."""
    page.wait_for_selector("textarea[name=prompt]", timeout=120_000)
    note = page.get_by_role("button", name="Close")  # "What's New", which opens a moment after the page
    try:
        note.first.wait_for(state="visible", timeout=10_000)
        note.first.click()
    except PlaywrightTimeout:
        pass  # not shown to this browser (it remembers a note it closed)
    page.fill("textarea[name=prompt]", prompt)
    for name in ("Width", "Height"):
        size = page.get_by_label(name, exact=True)
        size.fill("256")
        size.press("Enter")
    page.get_by_role("button", name="Advanced Options").last.click()
    steps = page.get_by_label("Steps", exact=True)
    steps.fill(str(STEPS))
    steps.press("Enter")
    made = page.locator("img[src*='api/v1/images/i/'][src$='/thumbnail']")
    before = made.count()
    invoke = page.get_by_role("button", name="Invoke", exact=True)
    expect(invoke).to_be_enabled(timeout=60_000)
    invoke.click()
    expect(made).to_have_count(before + 1, timeout=300_000)
    return made.first.get_attribute("src").split("/images/i/")[1].split("/")[0]
