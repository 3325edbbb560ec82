"""report.html in a real headless Chromium: it loads with no console errors and every image
has a non-zero natural size. The broken page proves the check can fail."""

import base64

from distillctl.report.browser import check, main, screenshot
from tests.conftest import run_stage

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000105e2f2a40000000049454e44ae426082"
    )
).decode()


def test_the_report_loads_cleanly_in_chromium(tmp_path, teacher_run):
    run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}")
    run_dir, result = run_stage("explain", tmp_path)
    seen = check(run_dir / "report.html")
    assert seen["errors"] == []
    # two chosen inputs side by side, the grid, the agreement histogram, the per-class chart,
    # and the teacher's and the student's training curves
    assert len(seen["images"]) == 7
    assert all(done and w > 0 and h > 0 for _, done, w, h in seen["images"]), seen["images"]
    assert "distillctl explain" in seen["title"]
    shot = screenshot(run_dir / "report.html", tmp_path / "shot.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_check_catches_broken_images_and_console_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><head><title>t</title></head><body>"
        f'<img alt="ok" src="data:image/png;base64,{PNG_1PX}">'
        '<img alt="broken" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>"
    )
    seen = check(page)
    assert seen["errors"] == ["boom"]
    sizes = {alt: (w, h) for alt, _, w, h in seen["images"]}
    assert sizes == {"ok": (1, 1), "broken": (0, 0)}
    assert main(["check", str(page)]) == 1
