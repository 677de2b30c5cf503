"""The matching engine's bulk shortcuts (issue 17, speed) decide nothing: they only spare Python pairs
that could not reach the review threshold anyway.

engine._name_needed (what the evidence other than the name allows) and engine._most_alike (a letter
count bound on a ratio) let the engine skip, in numpy, the pairs whose score cannot reach review.
Switched off, every candidate pair goes through score_pair one by one, as before the shortcuts; the
results must be the same to the last score and candidate.
"""
from __future__ import annotations

import gc
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz, process

from ledgerbridge.matching import engine
from ledgerbridge.matching.people import ONE_NAME_ONLY, score_people
from ledgerbridge.matching.engine import PartyRecord, Thresholds, explain, match, read_parties

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[list[PartyRecord], list[PartyRecord]]:
    """3,000 x 3,000 parties from bench/party_data.py: bookkeepers' spellings and hard negatives."""
    spec = importlib.util.spec_from_file_location("party_data", ROOT / "bench" / "party_data.py")
    party_data = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = party_data  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(party_data)
        paths = party_data.write(tmp_path_factory.mktemp("parties"), n=3_000, seed=17)
    finally:
        del sys.modules[spec.name]
    return read_parties(paths["hub"]), read_parties(paths["accounting"])


def _match_counting(hub, accounting, thresholds, monkeypatch) -> tuple[list, int]:
    calls = []
    score_pair = engine.score_pair
    monkeypatch.setattr(engine, "score_pair", lambda a, b: calls.append(1) or score_pair(a, b))
    results = match(hub, accounting, thresholds)
    monkeypatch.setattr(engine, "score_pair", score_pair)
    return results, len(calls)


@pytest.mark.parametrize("review", [0.80, 0.55, 0.95])
def test_the_bulk_shortcuts_change_no_result(generated, monkeypatch, review):
    hub, accounting = generated
    thresholds = Thresholds(auto=max(review, 0.90), review=review)
    fast, fast_scored = _match_counting(hub, accounting, thresholds, monkeypatch)

    monkeypatch.setattr(engine, "_name_needed", lambda hub, acc, h, a, *_: np.zeros(len(h)))
    monkeypatch.setattr(engine, "_most_alike", lambda hub, acc, h, a: (np.full(len(h), 100.0),) * 2)
    slow, slow_scored = _match_counting(hub, accounting, thresholds, monkeypatch)

    assert fast == slow
    assert [r.candidates for r in fast] == [r.candidates for r in slow]
    assert fast_scored * 2 < slow_scored  # the shortcuts do spare most pairs
    assert {r.decision for r in fast} == {"auto", "review", "none"}


def test_no_score_is_above_its_bound(generated):
    """Pair by pair, each hub party of a sample against accounting parties near and far: at review =
    the pair's own score, the pair's plain name ratios reach what _name_needed asks of them, and
    _most_alike is at least each ratio. A change to score_pair that adds to a score fails here."""
    hub, accounting = generated
    results = match(hub[:300], accounting)
    linked = {r.accounting_id for r in results if r.accounting_id}
    sample = [r for r in accounting if r.id in linked] + accounting[:300]
    hub_parties = [engine._features(r, use_kind=False) for r in hub[:300]]
    accounting_parties = [engine._features(r, use_kind=False) for r in sample]
    codes = defaultdict(engine._new_codes)
    hub_columns, accounting_columns = (engine._Columns(parties, codes) for parties in (hub_parties, accounting_parties))
    h, a = (grid.ravel() for grid in np.meshgrid(np.arange(len(hub_parties)), np.arange(len(accounting_parties)),
                                                 indexing="ij"))
    scores = np.array([engine.score_pair(hub_parties[i], accounting_parties[j])[0] for i, j in zip(h, a)])
    assert (scores >= 0.8).sum() >= 200 and (scores == 1.0).sum() >= 50

    need = engine._name_needed(hub_columns, accounting_columns, h, a, scores, *engine._form_tables(codes["forms"]))
    by_word = process.cpdist(hub_columns.names.words[h].tolist(), accounting_columns.names.words[a].tolist(),
                             scorer=fuzz.ratio, dtype=np.float64)
    unspaced = process.cpdist(hub_columns.names.compact[h].tolist(), accounting_columns.names.compact[a].tolist(),
                              scorer=fuzz.ratio, dtype=np.float64)
    scored = scores > 0  # a score of 0 may be clipped: nothing to check
    most_by_word, most_unspaced = engine._most_alike(hub_columns.names, accounting_columns.names, h, a)
    full_names, lone_word, person_need = engine._people_pairs(hub_columns, accounting_columns, h, a, scores)
    people = np.array([score_people(hub_parties[i], accounting_parties[j]) is not None  # what score_pair asks
                       and not (hub_parties[i].tax_id and accounting_parties[j].tax_id) for i, j in zip(h, a)])
    assert people.sum() >= 100 and np.all(full_names | lone_word | ~people)  # the bulk sees every people's pair
    general = scored & ~people
    assert np.all(np.maximum(by_word, unspaced)[general] >= need[general])
    reachable = np.where(lone_word, ONE_NAME_ONLY * 100, np.maximum(most_by_word, most_unspaced))
    assert np.all(reachable[scored & people] >= person_need[scored & people])
    assert np.all(most_by_word >= by_word - 1e-9) and np.all(most_unspaced >= unspaced - 1e-9)


def test_a_linked_pair_scores_what_explain_says(generated):
    hub, accounting = generated
    by_id = {r.id: r for r in accounting}
    linked = [(h, r) for h, r in zip(hub, match(hub, accounting)) if r.accounting_id]
    assert len(linked) > 1_500
    for record, result in linked:
        assert round(explain(record, by_id[result.accounting_id])[0], 4) == result.score, record


def test_words_compared_sorted_are_token_sort_ratio(generated):
    """The engine sorts each name's words once and compares them with fuzz.ratio."""
    hub, accounting = generated
    names = engine._Names([engine._features(r, use_kind=False) for r in hub + accounting])
    bases = [engine._features(r, use_kind=False).key.base for r in hub + accounting]
    for i in range(0, len(bases) - 7, 3):
        for j in (i + 1, i + 7, len(bases) - 1 - i):
            assert fuzz.ratio(names.words[i], names.words[j]) == fuzz.token_sort_ratio(bases[i], bases[j])


def test_no_parties_on_either_side_or_nothing_in_common():
    parties = [PartyRecord("P1", "Acme Widgets Inc", "vendor")]
    assert match([], parties) == []
    assert [(r.decision, r.accounting_id) for r in match(parties, [])] == [("none", None)]
    strangers = [PartyRecord("A1", "Zyx Qwv", "vendor"), PartyRecord("A2", "Acme Widgets Inc", "customer")]
    assert [(r.decision, r.accounting_id) for r in match(parties, strangers)] == [("none", None)]


def test_the_garbage_collector_runs_again_after_matching_and_reading(tmp_path):
    parties = [PartyRecord("P1", "Acme Widgets Inc", "vendor")]
    assert gc.isenabled()
    match(parties, parties)
    assert gc.isenabled()
    with pytest.raises(engine.PartyFileError):
        read_parties(tmp_path / "missing.csv")
    assert gc.isenabled()
    gc.disable()  # a caller that paused it keeps it paused
    try:
        match(parties, parties)
        assert not gc.isenabled()
    finally:
        gc.enable()
