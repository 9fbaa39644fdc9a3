"""The `jaxnets` command: list, run (with --set, --workdir, --resume) and report."""
import json
import os
import subprocess
import sys


from jaxnets import cli


def test_list_names_every_experiment_and_its_paper(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gcn" in out and "Semi-Supervised Classification with Graph Convolutional" in out
    assert "gat" in out and "Graph Attention Networks" in out


def test_console_script_is_installed():
    env = dict(os.environ, JAXNETS_PROGRESS="0")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-m", "jaxnets.cli", "list"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gcn" in done.stdout


def test_unknown_set_key_is_an_error_listing_valid_keys(tmp_path, capsys):
    code = cli.main(["run", "gcn", "--set", "epochz=3", "--workdir", str(tmp_path / "w")])
    assert code == 2
    err = capsys.readouterr().err
    assert "epochz" in err and "epochs" in err and "learning_rate" in err
    assert not (tmp_path / "w").exists()


def test_bad_set_value_is_an_error_naming_the_type(tmp_path, capsys):
    assert cli.main(["run", "gcn", "--set", "epochs=many", "--workdir", str(tmp_path / "w")]) == 2
    assert "epochs" in capsys.readouterr().err


def test_run_then_resume_in_the_same_workdir(tmp_path, capsys):
    workdir = tmp_path / "run"
    args = ["run", "gcn", "--quick", "--set", "dataset=csbm", "--set", "csbm_nodes=300",
            "--workdir", str(workdir)]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    results = json.loads((workdir / "results.json").read_text())
    assert results["config"]["dataset"] == "csbm" and "passed" in out
    assert (workdir / "metrics.jsonl").exists() and (workdir / "curves.png").exists()
    # The same workdir again without --resume is refused; with --resume it finds the finished run.
    assert cli.main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli.main(args + ["--resume"]) == 0
    again = json.loads((workdir / "results.json").read_text())
    assert again["results"]["test_accuracy"] == results["results"]["test_accuracy"]


def test_report_quick_writes_report_and_readme_table(tmp_path, monkeypatch):
    (tmp_path / "README.md").write_text(
        "intro\n<!-- paper-table:start -->\nSTALE-ROW\n<!-- paper-table:end -->\noutro\n")
    monkeypatch.setenv("JAXNETS_PROGRESS", "0")
    code = cli.main(["report", "--quick", "--only", "gcn", "--root", str(tmp_path)])
    assert code in (0, 1)
    report = (tmp_path / "REPORT.md").read_text()
    assert "| gcn |" in report and "81.5% (Cora)" in report and "(quick)" in report
    readme = (tmp_path / "README.md").read_text()
    assert "STALE-ROW" not in readme and "| Graph Attention Networks | `gat` | not run yet |" in readme
    assert readme.startswith("intro\n") and readme.endswith("outro\n")
    entries = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert entries["gcn"]["mode"] == "quick" and entries["gcn"]["status"] in ("pass", "fail")


def test_report_unknown_name_fails_before_running(tmp_path, capsys):
    assert cli.main(["report", "--only", "nope", "--root", str(tmp_path)]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "REPORT.md").exists()


def test_report_from_run_takes_a_finished_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "gcn", "--quick", "--workdir", "runs/g", "--set", "epochs=3"]) == 0
    code = cli.main(["report", "--from-run", "gcn=runs/g", "--root", str(tmp_path)])
    assert code in (0, 1)  # a 3-epoch run may fail the claim; either way it is reported
    entry = json.loads((tmp_path / "reports" / "report.json").read_text())["gcn"]
    assert entry["mode"] == "custom"  # overrides beyond the quick config are never "full"
    assert "| gcn |" in (tmp_path / "REPORT.md").read_text()
    assert cli.main(["report", "--from-run", "gcn", "--root", str(tmp_path)]) == 2
