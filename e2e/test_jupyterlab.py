"""What a learner sees: JupyterLab lists the course, the notebooks run, the widgets render as
controls (not "Error displaying widget" or a text repr), an upload gives predictions and the
mistake browser steps forwards and back. Notebooks run in quick mode (TL_QUICK=1)."""

from __future__ import annotations

import re
import time

from conftest import ARTIFACTS, PROJECT_ROOT

NOTEBOOKS = sorted(path.name for path in (PROJECT_ROOT / "notebooks").glob("[0-9]*.ipynb"))


def notebook_panel(page):
    """The notebook on screen (JupyterLab may have restored other tabs in the background)."""
    return page.locator(".jp-NotebookPanel:visible")


def kernel_status(page) -> str | None:
    """The state the visible notebook's own toolbar shows for its kernel (idle, busy, ...)."""
    indicator = notebook_panel(page).locator(".jp-Notebook-ExecutionIndicator")
    return indicator.first.get_attribute("data-status") if indicator.count() else None


def wait_for_idle_kernel(page, notebook: str, timeout: float = 180) -> None:
    """Until the server reports this notebook's kernel idle (it has answered, not merely started:
    the course's kernel imports TensorFlow first) and the notebook's own toolbar shows it idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = page.request.get(f"{page.lab.url}/api/sessions?token={page.lab.token}").json()
        states = [
            s["kernel"]["execution_state"]
            for s in sessions
            if s.get("path", "").endswith(notebook) and s.get("kernel")
        ]
        if states == ["idle"] and kernel_status(page) == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(
        f"the kernel of {notebook} was not idle after {timeout} s (toolbar: {kernel_status(page)})"
    )


def menu_command(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=command).first.click()


def prompts(page) -> list[str]:
    """The execution prompt of every code cell of the visible notebook: "[ ]:" not run yet,
    "[*]:" queued or running, "[12]:" done."""
    return [
        text.strip()
        for text in notebook_panel(page)
        .locator(".jp-CodeCell .jp-InputArea-prompt")
        .all_inner_texts()
    ]


def raised_errors(page) -> int:
    return (
        notebook_panel(page)
        .locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            has_text="Traceback",
        )
        .count()
    )


def run_all_cells(page, notebook: str, timeout: float = 900) -> None:
    """Open a notebook, clear its committed outputs, run every cell from the Run menu and wait
    until every code cell shows an execution count of this run and the kernel is idle again."""
    page.goto(page.lab.page_url(notebook))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    wait_for_idle_kernel(page, notebook)
    # Without the committed outputs, "every cell has a count" can only mean "this run ran it".
    notebook_panel(page).locator(".jp-Cell").first.click()
    menu_command(page, "Edit", "Clear Outputs of All Cells")
    deadline = time.monotonic() + 30
    while not all(prompt in ("[ ]:", "") for prompt in prompts(page)):
        assert time.monotonic() < deadline, f"{notebook}: outputs were not cleared: {prompts(page)}"
        time.sleep(0.2)
    menu_command(page, "Run", "Run All Cells")
    clicked = time.monotonic()
    deadline = clicked + timeout
    while True:
        shown = prompts(page)
        assert raised_errors(page) == 0, f"{notebook}: a cell raised an error"
        if shown and all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in shown):
            if kernel_status(page) == "idle":
                break
        elif all(prompt in ("[ ]:", "") for prompt in shown):
            assert time.monotonic() - clicked < 120, f"{notebook}: Run All Cells started no cell"
            # Nothing queued: JupyterLab may be asking which kernel to use (the page had not
            # attached it yet). Take the preferred one, the notebook's, and run again.
            select = page.locator(".jp-Dialog").get_by_role("button", name="Select")
            if select.count():
                select.click()
                wait_for_idle_kernel(page, notebook)
                menu_command(page, "Run", "Run All Cells")
                clicked = time.monotonic()
        assert time.monotonic() < deadline, f"{notebook}: not finished after {timeout} s: {shown}"
        time.sleep(1)


def assert_widgets_render(page) -> None:
    panel = notebook_panel(page)
    assert panel.locator("text=Error displaying widget").count() == 0
    assert panel.locator(".jp-OutputArea-output", has_text="VBox(children=").count() == 0, (
        "a widget showed as text"
    )


def test_make_lab_lists_every_notebook(lab, page):
    page.lab = lab
    page.goto(lab.page_url())
    page.wait_for_selector(".jp-DirListing-itemText", timeout=120_000)
    listed = page.locator(".jp-DirListing-itemText").all_inner_texts()
    assert set(NOTEBOOKS) <= set(listed), f"listed: {listed}"


def test_upload_and_predict_in_notebook_06(lab, page):
    page.lab = lab
    run_all_cells(page, "06_your_own_images.ipynb")
    assert_widgets_render(page)
    upload = notebook_panel(page).locator(".widget-upload")
    upload.wait_for(timeout=60_000)  # a rendered FileUpload button, not its text repr
    assert upload.count() == 1, "the upload widget must render as a button"
    photo = sorted(
        (PROJECT_ROOT / "notebooks" / "outputs" / "example_photos" / "tulips").glob("*.jpg")
    )[-1]
    with (
        page.expect_file_chooser() as chooser
    ):  # the widget opens the browser's file dialog on click
        upload.click()
    chooser.value.set_files(str(photo))
    notebook_panel(page).get_by_role("button", name="Predict").click()
    result = notebook_panel(page).locator(".widget-html", has_text=photo.name)
    result.wait_for(timeout=60_000)
    text = result.inner_text()
    assert "%" in text and any(name in text for name in ("daisy", "sunflowers", "tulips")), text
    page.screenshot(path=str(ARTIFACTS / "upload_prediction.png"))


def test_mistake_browser_in_notebook_04(lab, page):
    page.lab = lab
    run_all_cells(page, "04_flowers_multiclass.ipynb")
    assert_widgets_render(page)
    panel = notebook_panel(page)
    position = panel.locator(".widget-label", has_text="mistake")
    position.wait_for(timeout=60_000)
    first = position.inner_text()
    assert first.startswith("mistake 1 of"), first
    total = int(first.rsplit(" ", 1)[-1])
    next_button, previous_button = (
        panel.get_by_role("button", name="Next"),
        panel.get_by_role("button", name="Previous"),
    )
    assert previous_button.is_disabled()
    if total > 1:
        next_button.click()
        panel.locator(".widget-label", has_text="mistake 2 of").wait_for(timeout=30_000)
        previous_button.click()
        panel.locator(".widget-label", has_text="mistake 1 of").wait_for(timeout=30_000)
    else:
        assert next_button.is_disabled()
    page.screenshot(path=str(ARTIFACTS / "mistake_browser.png"))
