"""tools/bench_subnets.py runs at toy sizes and its result renders in BENCH.md's populations table.

No timing is asserted (numbers at these sizes are meaningless); what is checked: every measured
quantity is there and positive, and the report row carries the chunked columns.
"""
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_bench_subnets_measures_vmap_loop_and_chunked_and_renders():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools.bench import populations, report

    r = populations.subnets(k=3, train_k=3, batch=1, seq=4, repeats=1)
    assert r["chunk"] == 2 and r["k"] == 3
    for key in ("vmap_median_ms", "loop_median_ms", "chunk_median_ms", "loop_over_chunk",
                "train_vmap_step_ms", "train_separate_steps_ms", "vmap_temp_mib",
                "chunk_temp_mib", "train_vmap_temp_mib"):
        assert r[key] > 0, key
    for key in ("vmap_faults_per_call", "train_vmap_faults_per_call"):
        assert r[key] is None or r[key] >= 0, key

    seeds = {"k": 2, "graph": "toy", "timings": {}, "ms": {}, "loop_over_vmap": 1.0}
    lines = report._populations({"goal_loop_over_vmap": 4.0, "seeds": seeds, "subnets": [r]})
    row = next(line for line in lines if line.startswith("| 3 | 1 x 4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 12, row
    assert cells[5] == "2" and cells[6] == f"{r['chunk_median_ms']:.2f}", row
    assert cells[11].startswith(f"{r['train_vmap_temp_mib']:.1f} ("), row
    # An older result without the chunked keys still renders, with dashes.
    old = {k: v for k, v in r.items()
           if not k.startswith(("chunk", "loop_over_chunk", "vmap_t", "vmap_f", "train_vmap_t",
                                "train_vmap_f"))}
    lines = report._populations({"goal_loop_over_vmap": 4.0, "seeds": seeds, "subnets": [old]})
    row = next(line for line in lines if line.startswith("| 3 | 1 x 4 |"))
    assert row.count("| - ") >= 5, row
