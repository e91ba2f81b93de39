"""``skymath-report leaderboard``: the static site built from verified submissions, checked in a browser.

Three submissions from real lm-eval runs (the replay model, answering from a scripted mix of right,
wrong and missing answers per prompt): two complete ones (every document of GSM8K) and a partial one
(``--limit``: GSM8K, MATH, GSM8K-zh and the five distractor variants) that carries a contamination
block; plus one tampered submission, which must be left out. The expected figures come from the per-sample logs lm-eval
wrote (the verdicts the tasks logged at run time) and from ``paper_reference.yaml`` read directly, not
from the site code. The browser test opens ``index.html`` from ``file://`` in headless Chromium, sorts
by a column and checks the row order and the numbers; its screenshot is kept in the test's tmp folder.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers.forge import load_json, save_json
from tests.helpers.lm_eval_run import run_and_save

lm_eval = pytest.importorskip("lm_eval")
pytestmark = pytest.mark.slow

DISTRACTORS = [f"skymath_gsm8k_distractor_{k}" for k in range(1, 6)]
FULL_TASKS = ["skymath_gsm8k"]
PARTIAL_TASKS = ["skymath_gsm8k", "skymath_math", "skymath_gsm8k_zh", *DISTRACTORS]
#: model -> (share of right answers in tenths, tasks, --limit)
MODELS = {
    "org/model-a": (7, FULL_TASKS, None),
    "org/model-c": (4, FULL_TASKS, None),
    "org/model-b <b>bold</b>": (5, PARTIAL_TASKS, 30),
}
CONTAMINATION = {"gap": 0.124, "interval": [0.051, 0.197], "reading": "some items likely memorised", "n_items": 200,
                 "method": "n-gram continuation accuracy, test vs rewritten items (Xu et al. 2024)"}


def _responder(seed: str, gold_by_prompt: dict[str, str]):
    def respond(prompt: str) -> str:
        h = int(hashlib.sha256(f"{seed}|{prompt}".encode()).hexdigest(), 16) % 10
        rights = MODELS[seed][0]
        if h < rights:
            return f"Step by step.\nThe answer is: {gold_by_prompt[prompt]}"
        return "Step by step.\nThe answer is: 987654321" if h < 9 else "I do not know."

    return respond


def _gold_by_prompt(tasks: list[str], data_dir: Path) -> dict[str, str]:
    from skymath_tasks.prompts import build_prompt
    from skymath_tasks.report.verify import TaskDocuments

    out = {}
    for task in tasks:
        for doc in TaskDocuments(data_dir).load(task)[1]:
            out[build_prompt(doc.get("question", doc.get("problem")))] = str(doc["gold"])
    return out


@pytest.fixture(scope="module")
def submissions(shared_data, tmp_path_factory) -> dict[str, Path]:
    from skymath_tasks.report.cli import main
    from tests.helpers.replay_model import ReplayLM

    root = tmp_path_factory.mktemp("leaderboard")
    gold = _gold_by_prompt(PARTIAL_TASKS, shared_data)
    out: dict[str, Path] = {}
    summary = root / "contamination.json"
    summary.write_text(json.dumps(CONTAMINATION), encoding="utf-8")
    for i, (model, (_, tasks, limit)) in enumerate(MODELS.items()):
        runs = root / f"runs{i}"
        run_and_save(runs, model=ReplayLM(_responder(model, gold)), model_args="pretrained=x,dtype=bfloat16",
                     tasks=tasks, data_dir=shared_data, limit=limit)
        extra = ["--contamination-summary", str(summary)] if limit else []
        assert main(["submit", str(runs), "--label", f"{runs}={model}", "-o", str(root / "subs" / f"m{i}.submission.json"),
                     "--data-dir", str(shared_data), *extra]) == 0
        out[model] = root / "subs" / f"m{i}.submission.json"
    # a tampered copy of model A: one metric raised
    shutil.copytree(root / "subs" / "m0", root / "subs" / "forged")
    forged = load_json(out["org/model-a"])
    forged["model"]["label"] = "org/forged"
    forged["tasks"]["skymath_gsm8k"]["metrics"]["strict"] = 0.99
    for t in forged["tasks"].values():
        t["samples"]["path"] = t["samples"]["path"].replace("m0/", "forged/", 1)
        t["results_file"] = t["results_file"].replace("m0/", "forged/", 1)
    for r in forged["results_files"]:
        r["path"] = r["path"].replace("m0/", "forged/", 1)
    save_json(root / "subs" / "forged.submission.json", forged)
    out["org/forged"] = root / "subs" / "forged.submission.json"
    return out


def _logged_accuracy(sub_path: Path, task: str) -> float:
    """strict accuracy from the verdicts lm-eval's run logged (doc.skymath), the oracle for the site."""
    rel = load_json(sub_path)["tasks"][task]["samples"]["path"]
    rows = [json.loads(line) for line in (sub_path.parent / rel).read_text(encoding="utf-8").splitlines() if line.strip()]
    return sum(r["doc"]["skymath"]["strict"]["correct"] for r in rows) / len(rows)


@pytest.fixture(scope="module")
def site(submissions, shared_data, tmp_path_factory) -> tuple[Path, int, str]:
    from skymath_tasks.report.cli import main

    out = tmp_path_factory.mktemp("site")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["leaderboard", *map(str, submissions.values()), "--output-dir", str(out), "--data-dir", str(shared_data)])
    return out, rc, buf.getvalue()


def test_a_tampered_submission_is_left_out_and_named(site, submissions) -> None:
    out, rc, printed = site
    assert rc == 1
    assert f"left out (verification failed): {submissions['org/forged']}" in printed
    assert "metric strict = 0.990000 in the submission" in printed
    assert "3 submission(s) (2 complete, 1 partial)" in printed
    assert "org/forged" not in (out / "index.html").read_text(encoding="utf-8")


def _rows(index: Path) -> list[dict]:
    """(model text, kind, data-value per column) of every table row, parsed from the HTML."""
    html = index.read_text(encoding="utf-8")
    rows = []
    for tr in re.findall(r'<tr class="row-(\w+)" data-kind="\w+">(.*?)</tr>', html, re.S):
        cells = {k: html_lib.unescape(v) for k, v in re.findall(r'data-col="([\w]+)" data-value="([^"]*)"', tr[1])}
        rows.append({"kind": tr[0], **cells, "_html": tr[1]})
    return rows


def test_the_table_shows_the_re_graded_figures_of_every_verified_submission(site, submissions) -> None:
    out, _, _ = site
    rows = _rows(out / "index.html")
    ours = {r["model"]: r for r in rows if r["kind"] != "paper"}
    assert set(ours) == {"org/model-a", "org/model-c", "org/model-b <b>bold</b>"}
    for model in ("org/model-a", "org/model-c"):
        r = ours[model]
        assert r["kind"] == "complete"
        assert float(r["gsm8k"]) == pytest.approx(_logged_accuracy(submissions[model], "skymath_gsm8k"), abs=1e-12)
        assert r["math"] == r["d1"] == r["gsm8k_zh"] == "" and r["contamination"] == "" and ">n/a<" in r["_html"]
    b = ours["org/model-b <b>bold</b>"]
    assert b["kind"] == "partial" and b["rank"] == ""  # never ranked
    for k in range(1, 6):
        assert float(b[f"d{k}"]) == pytest.approx(_logged_accuracy(submissions["org/model-b <b>bold</b>"], DISTRACTORS[k - 1]))
    assert float(b["math"]) == pytest.approx(_logged_accuracy(submissions["org/model-b <b>bold</b>"], "skymath_math"))
    assert float(b["gsm8k_zh"]) == pytest.approx(_logged_accuracy(submissions["org/model-b <b>bold</b>"], "skymath_gsm8k_zh"))
    # ranks: complete entries only, by MATH then GSM8K (neither has MATH: GSM8K decides)
    a_first = float(ours["org/model-a"]["gsm8k"]) > float(ours["org/model-c"]["gsm8k"])
    assert (ours["org/model-a"]["rank"], ours["org/model-c"]["rank"]) == (("1", "2") if a_first else ("2", "1"))


def test_the_contamination_block_is_rendered(site) -> None:
    out, _, _ = site
    b = next(r for r in _rows(out / "index.html") if r["kind"] == "partial")
    assert float(b["contamination"]) == pytest.approx(0.124)
    assert "some items likely memorised" in b["_html"] and "+0.124 [0.051, 0.197]" in b["_html"]
    page = next((out / "models").glob("org-model-b*.html")).read_text(encoding="utf-8")
    assert "some items likely memorised: gap +0.124 [0.051, 0.197], 200 items" in page


def test_the_papers_rows_are_there_and_marked(site) -> None:
    out, _, _ = site
    ref = yaml.safe_load(Path("skymath_tasks/report/paper_reference.yaml").read_text(encoding="utf-8"))
    paper = {r["model"]: r for r in _rows(out / "index.html") if r["kind"] == "paper"}
    mistral = paper["skywork-math-mistral-7b"]
    t1 = next(r for r in ref["table1"]["rows"] if r["model"] == "Skywork-Math-Mistral-7B")
    t7 = next(r for r in ref["table7"]["rows"] if r["model"] == "Skywork-Math-Mistral-7B")
    assert float(mistral["gsm8k"]) == pytest.approx(t1["gsm8k"] / 100) and float(mistral["math"]) == pytest.approx(t1["math"] / 100)
    assert [float(mistral[f"d{k}"]) for k in range(1, 6)] == pytest.approx([t7[f"d{k}"] / 100 for k in range(1, 6)])
    assert 'class="badge paper"' in mistral["_html"] and "Table 1" in mistral["_html"]
    assert mistral["rank"] == ""


def test_every_model_has_a_page_with_plots_and_downloads(site, submissions) -> None:
    out, _, _ = site
    pages = sorted((out / "models").glob("*.html"))
    assert len(pages) == 3
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^[a-z]+://", ref), ref  # nothing external: works offline
            assert (page.parent / ref).exists(), (page.name, ref)
    b = next(p for p in pages if p.name.startswith("org-model-b"))
    html = b.read_text(encoding="utf-8")
    assert "levels.png" in html and "subjects.png" in html
    pngs = sorted(p.name for p in (out / "models" / b.stem).glob("*.png"))
    assert pngs == ["distractors.png", "levels.png", "subjects.png"]
    for png in (out / "models" / b.stem).glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_downloaded_submissions_verify_on_their_own(site, shared_data) -> None:
    """Unpack a zip anywhere: the submission and its bundle verify as they are."""
    import zipfile

    from skymath_tasks.report.verify import verify_submission

    out, _, _ = site
    zips = sorted((out / "submissions").glob("*.zip"))
    assert len(zips) == 3
    for z in zips:
        dest = out.parent / f"unzipped-{z.stem}"
        zipfile.ZipFile(z).extractall(dest)
        (sub,) = dest.glob("*.submission.json")
        if z.stem.startswith("org-model-b"):  # the small one is verified in full; the others by their hashes
            report = verify_submission(sub, data_dir=shared_data)
            assert report.ok and report.status == "partial", report.render()
        else:
            from skymath_tasks.jsonl_io import file_sha256

            d = load_json(sub)
            files = [d["tasks"]["skymath_gsm8k"]["samples"], *d["results_files"]]
            assert all(file_sha256(sub.parent / f["path"]) == f["sha256"] for f in files)


def test_the_index_needs_nothing_from_the_network(site) -> None:
    out, _, _ = site
    for f in ("index.html", "style.css", "leaderboard.js"):
        text = (out / f).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn|@import|fetch\(|XMLHttpRequest", text), f
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '<script src="leaderboard.js"></script>' in html and '<link rel="stylesheet" href="style.css">' in html
    assert "<b>bold</b>" not in html  # a submitter's label is text, never markup


# ------------------------------------------------------------------------------------------ browser
def _browser():
    """A headless Chromium driven by chromedriver, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("headless browser test needs Chromium and chromedriver (Debian: apt-get install chromium "
                    "chromium-driver; .ci/run installs them)")
    return webdriver, Service, binary, driver


def test_the_site_sorts_in_a_real_browser(site, submissions, tmp_path) -> None:
    webdriver, Service, binary, driver_path = _browser()
    from selenium.webdriver.common.by import By

    out, _, _ = site
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1500,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        browser.get((out / "index.html").resolve().as_uri())
        expected = {r["model"]: r for r in _rows(out / "index.html")}

        def table() -> list[tuple[str, str, str]]:
            got = []
            for tr in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr"):
                model = tr.find_element(By.CSS_SELECTOR, 'td[data-col="model"]')
                gsm8k = tr.find_element(By.CSS_SELECTOR, 'td[data-col="gsm8k"]')
                got.append((model.get_attribute("data-value"), gsm8k.text, gsm8k.get_attribute("data-value")))
            return got

        def expected_order(descending: bool) -> list[float]:
            vals = sorted((float(r["gsm8k"]) for r in expected.values() if r["gsm8k"]), reverse=descending)
            return vals

        header = browser.find_element(By.CSS_SELECTOR, 'tr.heads th[data-col="gsm8k"]')
        header.click()
        rows = table()
        assert header.get_attribute("aria-sort") == "descending"
        with_value = [float(v) for _, _, v in rows if v]
        assert with_value == expected_order(True)
        assert all(v == "" for _, _, v in rows[len(with_value):])  # no figure: listed last
        for model, text, value in rows:  # the shown numbers are the figures, in percent with one decimal
            assert text == ("—" if not value else f"{100 * float(value):.1f}")
        # our submissions: the figures the runs logged, in the order of their logged GSM8K accuracy
        logged = {m.lower(): _logged_accuracy(submissions[m], "skymath_gsm8k") for m in MODELS}
        ours = [(m, float(v)) for m, _, v in rows if m.startswith("org/")]
        assert [m for m, _ in ours] == sorted(logged, key=lambda m: -logged[m])
        assert all(v == pytest.approx(logged[m], abs=1e-12) for m, v in ours)
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert [float(v) for _, _, v in table() if v] == expected_order(False)
        header.click()  # back to best first for the screenshot
        browser.find_element(By.ID, "show-paper").click()  # hide the paper's rows
        visible = [tr for tr in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr") if tr.is_displayed()]
        assert len(visible) == 3
        browser.find_element(By.ID, "show-paper").click()
        shot = tmp_path / "leaderboard.png"
        browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
        page = next((out / "models").glob("org-model-b*.html"))
        browser.get(page.resolve().as_uri())
        imgs = browser.find_elements(By.TAG_NAME, "img")
        assert len(imgs) == 3 and all(browser.execute_script("return arguments[0].naturalWidth", i) == 800 for i in imgs)
        browser.save_screenshot(str(tmp_path / "model_page.png"))
    finally:
        browser.quit()


def test_the_site_is_never_written_over_an_unrelated_folder(tmp_path, capsys) -> None:
    from skymath_tasks.report.cli import main

    mine = tmp_path / "project"
    (mine / "models").mkdir(parents=True)
    (mine / "models" / "weights.bin").write_bytes(b"precious")
    assert main(["leaderboard", str(tmp_path / "none.submission.json"), "--output-dir", str(mine)]) == 2
    assert "is not empty and not a leaderboard site built here" in capsys.readouterr().err
    assert (mine / "models" / "weights.bin").read_bytes() == b"precious"
    site = tmp_path / "site"
    for _ in range(2):  # a new folder, then a rebuild of the same site
        assert main(["leaderboard", str(tmp_path / "none.submission.json"), "--output-dir", str(site)]) == 1
        out = capsys.readouterr().out
        assert "0 submission(s)" in out and "left out (verification failed)" in out and "cannot read submission" in out
        assert (site / "index.html").is_file() and (site / ".skymath-leaderboard").is_file()
