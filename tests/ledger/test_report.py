"""`audit report`: a self-contained HTML page that headless Chromium renders with its figures
and charts, and that says so loudly when the log was tampered with."""

import json

from browsers import pixels_of, render
from sqlalchemy import text


def test_the_report_renders_in_chromium_with_its_figures_and_charts(cli, workspace, history,
                                                                    chromium, tmp_path):
    page = tmp_path / "audit.html"
    r = cli("audit", "report", "-o", str(page), "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout)
    assert figures["intact"] and figures["generations"] == 1 and figures["refusals"] == 1
    assert figures["decisions"] == 3 and figures["consents"] == 2
    assert figures["refusal_reasons"] == {"no-consent": 1}

    html = page.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "face_template" not in html  # ids and hashes only

    dom = render(chromium, page, tmp_path, "dom")
    assert '<b id="n-generations">1</b>' in dom and '<b id="n-refusals">1</b>' in dom
    assert history.generation_id in dom and history.manifest_label in dom
    assert "no-consent" in dom and "intact" in dom
    assert dom.count("<svg") == 3  # over time, by reason, consent usage

    shot = render(chromium, page, tmp_path, "png")
    assert shot.shape[1] == 1200
    # The charts are drawn: generation bars (green), refusal bars (red), consent bars (blue).
    assert pixels_of(shot, "#1a7f37") > 2000
    assert pixels_of(shot, "#cf222e") > 2000
    assert pixels_of(shot, "#0550ae") > 2000


def test_a_tampered_log_gives_a_report_that_says_so_and_exit_3(cli, workspace, history,
                                                               chromium, tmp_path):
    with workspace.store().engine.begin() as conn:
        conn.execute(text("UPDATE generations SET frames = frames + 1"))
    page = tmp_path / "audit.html"
    r = cli("audit", "report", "-o", str(page))
    assert r.exit_code == 3 and "TAMPERED" in r.stdout
    dom = render(chromium, page, tmp_path, "dom")
    assert "TAMPERED" in dom and "differs from its logged state" in dom


def test_the_report_window_and_bad_paths(cli, workspace, history, tmp_path):
    page = tmp_path / "future.html"
    r = cli("audit", "report", "-o", str(page), "--since", "2999-01-01", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["generations"] == 0
    assert "no events in this period" in page.read_text()
    r = cli("audit", "report", "-o", str(tmp_path / "missing-dir" / "r.html"))
    assert r.exit_code == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path).glob("**/.r.html.partial"))
