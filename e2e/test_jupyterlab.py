"""What a learner sees: JupyterLab lists the course, the notebooks run, the widgets render as
controls (not "Error displaying widget" or a text repr), an upload gives predictions and the
mistake browser steps forwards and back. Notebooks run in quick mode (TL_QUICK=1)."""

from __future__ import annotations

import time

from conftest import ARTIFACTS, PROJECT_ROOT

NOTEBOOKS = sorted(path.name for path in (PROJECT_ROOT / "notebooks").glob("[0-9]*.ipynb"))


def notebook_panel(page):
    """The notebook on screen (JupyterLab may have restored other tabs in the background)."""
    return page.locator(".jp-NotebookPanel:visible")


def wait_for_idle_kernel(page, notebook: str, timeout: float = 180) -> None:
    """Until the server reports this notebook's kernel idle (it has answered, not merely started:
    the course's kernel imports TensorFlow first) and the page's status bar shows it idle too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = page.request.get(f"{page.lab.url}/api/sessions?token={page.lab.token}").json()
        states = [
            s["kernel"]["execution_state"]
            for s in sessions
            if s.get("path", "").endswith(notebook) and s.get("kernel")
        ]
        if states == ["idle"] and page.locator(".jp-StatusBar-TextItem", has_text="| Idle").count():
            return
        time.sleep(1)
    raise AssertionError(f"the kernel of {notebook} was not idle after {timeout} s")


def click_run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def execution_started(page, timeout: float = 60) -> bool:
    """True once some cell of the visible notebook is queued or running ([*])."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if notebook_panel(page).locator(".jp-InputArea-prompt", has_text="[*]").count():
            return True
        time.sleep(0.5)
    return False


def run_all_cells(page, notebook: str, timeout: float = 900) -> None:
    """Open a notebook, run every cell from the Run menu, wait until no cell is busy."""
    page.goto(page.lab.page_url(notebook))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    wait_for_idle_kernel(page, notebook)
    click_run_all(page)
    if not execution_started(page):
        # The page had not attached the kernel yet and JupyterLab asked which one to use: take the
        # preferred one (the notebook's), wait for it, and run again. Anything else fails below.
        select = page.locator(".jp-Dialog").get_by_role("button", name="Select")
        if select.count():
            select.click()
        wait_for_idle_kernel(page, notebook)
        click_run_all(page)
        assert execution_started(page), f"{notebook}: Run All Cells did not start any cell"
    started, quiet_since = time.monotonic(), None
    while time.monotonic() - started < timeout:
        busy = notebook_panel(page).locator(".jp-InputArea-prompt", has_text="[*]").count()
        if busy == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 5:
                break
        else:
            quiet_since = None
        time.sleep(2)
    else:
        raise AssertionError(f"{notebook} was still running after {timeout} s")
    errors = (
        notebook_panel(page)
        .locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            has_text="Traceback",
        )
        .count()
    )
    assert errors == 0, f"{notebook}: a cell raised an error"


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
