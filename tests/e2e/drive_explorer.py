"""Drive the explorer notebook in a real JupyterLab with Playwright and Debian's chromium.

Called by ``tests/e2e/run.sh`` once the server is up. Steps: open the notebook (with retries: the first load of
JupyterLab on a cold machine can time out), wait for the kernel, Run > Run All Cells, wait for the explorer
widget to render its table, change the tie rule in the browser, and check that the table's text changes (the
kernel refitted and the front end re-rendered). Saves a screenshot of the widget. Exits 1 with a message on
failure, plus a full-page screenshot beside the requested one.

Not a pytest module on purpose: ``make test`` collects ``tests/``, and this needs a server and a browser.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

# Flags for chromium in a container: no sandbox (root, no user namespaces), no GPU, and nothing that phones home
# (the machine has no internet; background fetches only add timeouts).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
TIE_FROM, TIE_TO = "half", "drop"  # values of the explorer's tie-rule dropdown (labels start with them)


class E2EFailure(RuntimeError):
    """A check failed; the message says which and what was seen."""


def log(message: str) -> None:
    print(f"e2e: {message}", flush=True)


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; raise E2EFailure naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (PlaywrightError, OSError, ValueError, KeyError) as exc:  # transient while the page or kernel settles
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise E2EFailure(f"timed out after {timeout:.0f} s waiting for {what}{detail}")


class Lab:
    """The JupyterLab page plus its REST API (for kernel state, which the page shows only indirectly)."""

    def __init__(self, page: Page, url: str, token: str, notebook: str) -> None:
        self.page, self.url, self.token, self.notebook = page, url.rstrip("/"), token, notebook

    def api(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.load(response)

    def kernel_state(self) -> str | None:
        for session in self.api("/api/sessions"):
            if session.get("path", "").endswith(self.notebook) and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def wait_kernel_idle(self, timeout: float, settle: float = 1.0) -> None:
        """Idle in the REST API twice, ``settle`` seconds apart: a comm message can make it busy again."""

        def idle_twice() -> bool:
            if self.kernel_state() != "idle":
                return False
            time.sleep(settle)
            return self.kernel_state() == "idle"

        wait_for("the kernel to be idle", idle_twice, timeout)

    def open(self, attempts: int = 3, timeout: float = 180) -> None:
        """Open the notebook; reload on failure, since a cold first load can stall on asset fetches."""
        target = f"{self.url}/lab/tree/{self.notebook}?token={self.token}&reset"
        for attempt in range(1, attempts + 1):
            try:
                self.page.goto(target, wait_until="domcontentloaded", timeout=timeout * 1000)
                self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible",
                                                                               timeout=timeout * 1000)
                wait_for("a kernel for the notebook", lambda: self.kernel_state() is not None, timeout)
                self.wait_kernel_idle(timeout)
                self.dismiss_dialogs()
                return
            except (E2EFailure, PlaywrightError) as exc:
                log(f"opening the notebook failed (attempt {attempt}/{attempts}): {exc}")
                if attempt == attempts:
                    raise E2EFailure(f"could not open {self.notebook} in JupyterLab: {exc}") from exc

    def dismiss_dialogs(self) -> None:
        # A kernel or build dialog would swallow clicks; accept whatever it proposes (the default button).
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            log(f"dismissing a dialog: {dialog.first.inner_text()[:200]!r}")
            self.page.locator(".jp-Dialog .jp-mod-accept").first.click()

    def close_left_sidebar(self) -> None:
        """Give the notebook the full width, so the table and the plot sit side by side in the screenshot."""
        if self.page.locator("#jp-left-stack").is_visible():
            self.page.evaluate("window.jupyterapp?.commands.execute('application:toggle-left-area')")

    def run_all(self) -> None:
        """Run > Run All Cells from the menu bar; the app's command registry if the menu cannot be used."""
        try:
            self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=15_000)
            # The menu entry wraps the notebook command in the run menu's own ("runmenu:run-all" in JupyterLab 4).
            item = '.lm-Menu-item[data-command="runmenu:run-all"], .lm-Menu-item[data-command="notebook:run-all-cells"]'
            self.page.locator(item).first.click(timeout=15_000)
            log("ran all cells (Run > Run All Cells)")
        except PlaywrightError as exc:
            log(f"menu not usable ({exc}); running the command directly")
            self.page.keyboard.press("Escape")
            self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def errors(self) -> list[str]:
        """Text of any error output in the notebook (tracebacks)."""
        texts = self.page.locator(".jp-OutputArea-output").all_inner_texts()
        return [t for t in texts if "Traceback" in t or "Error:" in t.split("\n", 1)[0]]


def drive(browser: Browser, args: argparse.Namespace) -> None:
    # Tall enough that the whole widget (controls, table, plot) fits on screen for its screenshot.
    page = browser.new_page(viewport={"width": 1700, "height": 2200})
    page.set_default_timeout(60_000)
    lab = Lab(page, args.url, args.token, args.notebook)
    try:
        t0 = time.monotonic()
        lab.open()
        log(f"notebook open, kernel idle after {time.monotonic() - t0:.0f} s")
        lab.close_left_sidebar()
        lab.run_all()

        explorer = page.locator(".val-explorer").first
        table = explorer.locator(".val-board table")

        def table_or_error() -> bool:
            if lab.errors():
                raise E2EFailure("a cell raised:\n" + "\n---\n".join(lab.errors())[:3000])
            return table.count() > 0 and table.first.is_visible()

        wait_for("the explorer's table", table_or_error, args.timeout)
        lab.wait_kernel_idle(args.timeout)
        if lab.errors():
            raise E2EFailure("a cell raised:\n" + "\n---\n".join(lab.errors())[:3000])
        status = explorer.locator(".val-status")
        log(f"widget rendered after {time.monotonic() - t0:.0f} s; status: {status.inner_text().strip()}")
        if f"ties: {TIE_FROM}" not in status.inner_text():
            raise E2EFailure(f"expected the status to start with ties: {TIE_FROM}, got {status.inner_text()!r}")

        before = table.inner_text()
        select = explorer.locator(".val-ties select")
        explorer.scroll_into_view_if_needed()
        labels = [o.strip() for o in select.locator("option").all_inner_texts()]
        choice = next((label for label in labels if label.startswith(TIE_TO)), None)
        if choice is None:
            raise E2EFailure(f"no {TIE_TO!r} entry in the tie-rule dropdown: {labels}")
        select.select_option(label=choice)
        log(f"changed the tie rule to {choice!r}")
        wait_for("the table to change after the tie-rule change", lambda: table.inner_text() != before, 120)
        wait_for("the status to report the new tie rule", lambda: f"ties: {TIE_TO}" in status.inner_text(), 60)
        lab.wait_kernel_idle(120)
        after = table.inner_text()
        changed = sum(a != b for a, b in zip(before.splitlines(), after.splitlines(), strict=False))
        log(f"table changed: {changed} of {len(after.splitlines())} lines differ")
        log(f"status: {status.inner_text().strip()}")
        if "⚠" in status.inner_text():
            raise E2EFailure(f"the explorer reported an error: {status.inner_text()!r}")

        # Let the new forest plot image load before the picture is taken.
        page.wait_for_function("el => [...el.querySelectorAll('.val-plot img, img.val-plot')]"
                               ".every(i => i.complete && i.naturalWidth > 0)", arg=explorer.element_handle(),
                               timeout=30_000)
        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
        explorer.scroll_into_view_if_needed()
        explorer.screenshot(path=args.screenshot)
        log(f"screenshot saved to {args.screenshot}")
    except Exception:
        failure = Path(args.screenshot).with_name(Path(args.screenshot).stem + "_failure.png")
        try:
            page.screenshot(path=str(failure), full_page=True)
            log(f"page at the failure saved to {failure}")
        except PlaywrightError:
            pass
        raise
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="JupyterLab base URL, e.g. http://127.0.0.1:8888")
    parser.add_argument("--token", required=True)
    parser.add_argument("--notebook", default="notebooks/06_explorer.ipynb", help="path relative to the lab root")
    parser.add_argument("--screenshot", default="figures/e2e_explorer.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the notebook to run")
    args = parser.parse_args(argv)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS,
                                         timeout=120_000)
            try:
                drive(browser, args)
            finally:
                browser.close()
    except (E2EFailure, PlaywrightError) as exc:
        print(f"e2e: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
