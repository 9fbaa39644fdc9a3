"""`python -m tools.bench`: see `tools/bench/run_all.py`."""
from tools.bench.run_all import main

main()
