"""A seeded radio-access-network "digital twin" rendered into telecom Q/A instruction pairs.

TSLAM-Mini (NetoAI) fine-tunes on 100 k telecom instructions generated with NetoAI's DigiTwin
platform; that data is proprietary. This module is the mini-reproduction's stand-in (research
notes sec. 12): a simulated RAN of `num_cells` cells observed hourly over `num_days` days, with
the four KPIs operators watch and rule-based alarms, turned into templated questions whose
answers are short exact strings ("Which cell is busiest?" -> "Cell-07").

Simulation (all integers, as a KPI dashboard shows them), per day d, hour h, cell c:
  RSRP_dch  = base_c + N(0, 3)         dBm, base_c ~ U(-118, -80); load_c ~ U(0.6, 1.6)
  PRB_dch   = clip(100 * load_c * diurnal(h) * (1 + 0.15 N(0, 1)), 1, 100)     % utilisation
              diurnal(h) = 0.25 + 0.55 exp(-((h - 12.5) / 3.5)^2) + 0.35 exp(-((h - 19.5) / 2)^2)
  SINR_dch  = clip(0.45 (RSRP + 105) + 12 - 12 * mean_{c' != c} PRB_dc'h / 100 + N(0, 2.5),
                   -10, 30)                              dB (weaker signal, busier neighbours)
  DL_dch    = round(20 log2(1 + 10^(SINR / 10)) (1 - 0.8 PRB / 100))            Mbps
  outages: each (day, cell) fails with probability p_outage for 1-4 consecutive hours; a down
  cell reports RSRP and SINR "n/a", PRB 0 % and DL 0 Mbps.
Alarm (one per cell and hour, by priority): CELL_DOWN if down; else HIGH_LOAD if PRB >= 90;
else LOW_SINR if SINR < 0; else WEAK_COVERAGE if RSRP < -110; else NONE.

Question templates (`TEMPLATES`), each a KPI snapshot, a question and an exact answer:
  alarm       one cell's KPIs at one hour; "Alarm?"               -> the alarm name
  congested   one cell's KPIs; "Congested?" (PRB >= 80)          -> YES / NO
  throughput  one cell's KPIs; "DL throughput?"                   -> "<DL> Mbps"
  busiest     PRB of 3 cells at one hour; "Busiest cell?"        -> the cell with the top PRB
  worst_sinr  SINR of 3 live cells at one hour; "Worst SINR?"   -> the cell with the lowest SINR
  peak_hour   one cell's PRB over 4 consecutive hours; "Peak hour?" -> the hour of the top PRB
Ties in the arg-max/arg-min questions are redrawn so that every answer is unique. Train and test
questions come from disjoint days (the last `test_days` are the test period).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jaxnets.data.text_corpus import encode

__all__ = ["ALARMS", "EOS", "TEMPLATES", "TelecomTwin", "alarm_name", "encode_qa",
           "render_question", "simulate_twin", "telecom_qa"]

ALARMS = ("NONE", "HIGH_LOAD", "LOW_SINR", "WEAK_COVERAGE", "CELL_DOWN")
TEMPLATES = ("alarm", "congested", "throughput", "busiest", "worst_sinr", "peak_hour")
EOS = "|"                        # ends every answer (printable ASCII, in text_corpus's alphabet)
HIGH_LOAD_PRB, CONGESTED_PRB, LOW_SINR_DB, WEAK_RSRP_DBM = 90, 80, 0, -110


@dataclasses.dataclass(frozen=True)
class TelecomTwin:
    """KPIs of every cell at every hour: arrays [days, 24, cells] (int32, `down` bool)."""
    rsrp: np.ndarray
    sinr: np.ndarray
    prb: np.ndarray
    dl: np.ndarray
    down: np.ndarray

    @property
    def num_days(self) -> int:
        return self.prb.shape[0]

    @property
    def num_cells(self) -> int:
        return self.prb.shape[2]


def simulate_twin(num_cells: int = 12, num_days: int = 14, seed: int = 0,
                  p_outage: float = 0.08) -> TelecomTwin:
    """Simulates the RAN of the module docstring (deterministic in `seed`)."""
    if num_cells < 3 or num_days < 1:
        raise ValueError(f"need num_cells >= 3 and num_days >= 1, got {num_cells}, {num_days}")
    if not 0.0 <= p_outage < 1.0:
        raise ValueError(f"p_outage must be in [0, 1), got {p_outage}")
    rng = np.random.default_rng(seed)
    shape = (num_days, 24, num_cells)
    base = rng.uniform(-118, -80, num_cells)
    load = rng.uniform(0.6, 1.6, num_cells)
    h = np.arange(24)[None, :, None]
    diurnal = (0.25 + 0.55 * np.exp(-((h - 12.5) / 3.5) ** 2)
               + 0.35 * np.exp(-((h - 19.5) / 2.0) ** 2))
    rsrp = np.round(base + rng.normal(0, 3, shape))
    prb = np.clip(np.round(100 * load * diurnal * (1 + 0.15 * rng.normal(size=shape))), 1, 100)
    down = np.zeros(shape, bool)
    for d, c in zip(*np.nonzero(rng.random((num_days, num_cells)) < p_outage)):
        start, length = rng.integers(0, 24), rng.integers(1, 5)
        down[d, start:start + length, c] = True
    prb = np.where(down, 0, prb)
    others = (prb.sum(-1, keepdims=True) - prb) / (num_cells - 1)
    sinr = np.clip(np.round(0.45 * (rsrp + 105) + 12 - 12 * others / 100
                            + rng.normal(0, 2.5, shape)), -10, 30)
    dl = np.round(20 * np.log2(1 + 10 ** (sinr / 10)) * (1 - 0.8 * prb / 100))
    dl = np.where(down, 0, dl)
    as_int = lambda x: x.astype(np.int32)
    return TelecomTwin(as_int(rsrp), as_int(sinr), as_int(prb), as_int(dl), down)


def alarm_name(rsrp: int, sinr: int, prb: int, down: bool) -> str:
    """The alarm rule of the module docstring (priority CELL_DOWN > HIGH_LOAD > LOW_SINR >
    WEAK_COVERAGE > NONE)."""
    if down:
        return "CELL_DOWN"
    if prb >= HIGH_LOAD_PRB:
        return "HIGH_LOAD"
    if sinr < LOW_SINR_DB:
        return "LOW_SINR"
    if rsrp < WEAK_RSRP_DBM:
        return "WEAK_COVERAGE"
    return "NONE"


def _cell(c: int) -> str:
    return f"Cell-{c + 1:02d}"


def _snapshot(twin: TelecomTwin, d: int, h: int, c: int) -> str:
    if twin.down[d, h, c]:
        return f"{_cell(c)} {h:02d}:00 RSRP n/a SINR n/a PRB 0% DL 0 Mbps."
    return (f"{_cell(c)} {h:02d}:00 RSRP {twin.rsrp[d, h, c]} dBm SINR {twin.sinr[d, h, c]} dB "
            f"PRB {twin.prb[d, h, c]}% DL {twin.dl[d, h, c]} Mbps.")


def render_question(twin: TelecomTwin, template: str, rng: np.random.Generator,
                    days: np.ndarray) -> tuple[str, str]:
    """One (prompt, answer) pair of `template` about a random hour of one of `days`.

    The prompt ends with "A: "; the answer has no terminator (see `encode_qa`).
    """
    while True:   # redraw until the arg-max / arg-min answer is unique
        d, h = int(rng.choice(days)), int(rng.integers(24))
        c = int(rng.integers(twin.num_cells))
        if template in ("alarm", "congested", "throughput"):
            snap = _snapshot(twin, d, h, c)
            if template == "alarm":
                return f"{snap} Q: Alarm? A: ", alarm_name(
                    twin.rsrp[d, h, c], twin.sinr[d, h, c], twin.prb[d, h, c], twin.down[d, h, c])
            if template == "congested":
                return (f"{snap} Q: Congested? A: ",
                        "YES" if twin.prb[d, h, c] >= CONGESTED_PRB else "NO")
            return f"{snap} Q: DL throughput? A: ", f"{twin.dl[d, h, c]} Mbps"
        if template == "peak_hour":
            h = int(rng.integers(21))
            values = twin.prb[d, h:h + 4, c]
            if np.sum(values == values.max()) > 1:
                continue
            listing = " ".join(f"{h + i:02d}:00 {v}%" for i, v in enumerate(values))
            return (f"{_cell(c)} PRB {listing}. Q: Peak hour? A: ",
                    f"{h + int(np.argmax(values)):02d}:00")
        if template in ("busiest", "worst_sinr"):
            live = np.flatnonzero(~twin.down[d, h]) if template == "worst_sinr" else \
                np.arange(twin.num_cells)
            if live.size < 3:
                continue
            cells = np.sort(rng.choice(live, 3, replace=False))
            if template == "busiest":
                values = twin.prb[d, h, cells]
                best = values.max()
                listing = " ".join(f"{_cell(k)} {v}%" for k, v in zip(cells, values))
                question = "Busiest cell?"
            else:
                values = twin.sinr[d, h, cells]
                best = values.min()
                listing = " ".join(f"{_cell(k)} {v} dB" for k, v in zip(cells, values))
                question = "Worst SINR?"
            if np.sum(values == best) > 1:
                continue
            kpi = "PRB" if template == "busiest" else "SINR"
            return (f"{h:02d}:00 {kpi} {listing}. Q: {question} A: ",
                    _cell(int(cells[int(np.flatnonzero(values == best)[0])])))
        raise ValueError(f"unknown template {template!r}; choose from {TEMPLATES}")


def telecom_qa(num_train: int = 2000, num_test: int = 200, seed: int = 0, *,
               num_cells: int = 12, num_days: int = 14, test_days: int = 2
               ) -> dict[str, list[tuple[str, str, str]]]:
    """Train / test instruction pairs from one simulated twin, from disjoint days.

    Templates cycle in `TEMPLATES` order (equal shares), the rest is random in `seed`.

    Returns:
      {"train": [(template, prompt, answer)] * num_train, "test": [...] * num_test}.
    """
    if not 0 < test_days < num_days:
        raise ValueError(f"test_days must be in [1, num_days={num_days}), got {test_days}")
    twin = simulate_twin(num_cells, num_days, seed)
    rng = np.random.default_rng(seed + 1)
    split_days = {"train": np.arange(num_days - test_days),
                  "test": np.arange(num_days - test_days, num_days)}
    out = {}
    for split, n in (("train", num_train), ("test", num_test)):
        pairs = []
        for i in range(n):
            template = TEMPLATES[i % len(TEMPLATES)]
            pairs.append((template, *render_question(twin, template, rng, split_days[split])))
        out[split] = pairs
    return out


def encode_qa(pairs: list[tuple[str, str, str]], seq_len: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token rows for a causal LM: prompt + answer + EOS, padded with spaces (id 0).

    Returns:
      tokens [N, T] int32 (text_corpus ids), answer_mask [N, T] bool (True at the answer's
      characters and its EOS: the positions that the loss and exact match score), and the
      template index [N] int32.
    Raises:
      ValueError: when a pair does not fit in seq_len characters.
    """
    n = len(pairs)
    tokens = np.zeros((n, seq_len), np.int32)
    answer_mask = np.zeros((n, seq_len), bool)
    kinds = np.zeros(n, np.int32)
    for i, (template, prompt, answer) in enumerate(pairs):
        text = prompt + answer + EOS
        if len(text) > seq_len:
            raise ValueError(f"pair {i} has {len(text)} characters > seq_len {seq_len}: {text!r}")
        tokens[i, :len(text)] = encode(text)
        answer_mask[i, len(prompt):len(text)] = True
        kinds[i] = TEMPLATES.index(template)
    return tokens, answer_mask, kinds
