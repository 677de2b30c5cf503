"""The registry of legal entities: validated entity by entity, errors naming the entity and the field."""
from __future__ import annotations

import pytest

from ledgerbridge.registry import RegistryFileError, load_registry, parse_entities


def _entity(entity_id="acme", **overrides):
    return {"id": entity_id, "name": "Acme", "base_currency": "USD",
            "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"}, **overrides}


def test_the_shipped_registry_is_valid():
    registry = load_registry()
    assert registry.errors == ()
    assert len(registry.enabled) >= 2
    assert len({e.accounting.conn_id for e in registry.entities}) == len(registry.entities)


def test_defaults_and_sorting():
    registry = parse_entities([_entity("zeta"), _entity("alpha")])
    assert [e.id for e in registry.entities] == ["alpha", "zeta"]
    assert registry.entities[0].schedule == "0 2 * * *" and registry.entities[0].enabled


@pytest.mark.parametrize("overrides, field", [
    ({"base_currency": "usd"}, "base_currency"),
    ({"accounting": {"kind": "sage_x3", "conn_id": "c"}}, "accounting.kind"),
    ({"accounting": {"kind": "quickbooks_online"}}, "accounting.conn_id"),
    ({"flows": ["bills", "teleportation"]}, "flows.1"),
    ({"matching": {"create_missing_vendors": "perhaps"}}, "matching.create_missing_vendors"),
    ({"unexpected": 1}, "unexpected"),
    ({"id": "Has Spaces"}, "id"),
    ({"quality": {"allowed_currencies": ["EURO"]}}, "quality.allowed_currencies"),
    ({"quality": {"max_failure_rates": {"documents": 2}}}, "quality.max_failure_rates"),
    ({"quality": {"max_failure_rates": {"bills": 0.2}}}, "quality.max_failure_rates.bills.[key]"),
    ({"alerts": {"channels": [{"kind": "email", "conn_id": "smtp"}]}}, "alerts.channels.0"),
    ({"alerts": {"channels": [{"kind": "email", "conn_id": "smtp", "to": ["nobody"]}]}}, "alerts.channels.0"),
    ({"alerts": {"channels": [{"kind": "pager", "conn_id": "p"}]}}, "alerts.channels.0.kind"),
    ({"alerts": {"quarantine_above": -1}}, "alerts.quarantine_above"),
    ({"alerts": {"api_calls_left_below": 5}}, "alerts.api_calls_left_below"),
])
def test_a_bad_entity_names_itself_and_the_field_and_the_others_still_load(overrides, field):
    registry = parse_entities([_entity("good"), _entity("bad", **overrides)])
    assert [e.id for e in registry.entities] == ["good"]
    (error,) = registry.errors
    assert f"field '{field}'" in str(error)
    assert ("'bad'" in str(error)) or overrides.get("id") in str(error)


@pytest.mark.parametrize("schedule, words", [
    ("30 25 * * *", "hour field '25'"),
    ("0 2 * * 8", "day of week field '8'"),
    ("*/0 * * * *", "minute field '*/0'"),
    ("0 2 31 2 *", "never fires"),
    ("0 2 * *", "5-field cron"),
    ("@once", "not a schedule preset"),
])
def test_a_schedule_airflow_would_refuse_is_an_error_of_its_entity(schedule, words):
    registry = parse_entities([_entity("good"), _entity("bad", schedule=schedule)])
    assert [e.id for e in registry.entities] == ["good"]
    (error,) = registry.errors
    assert "legal entity 'bad'" in str(error) and "field 'schedule'" in str(error) and words in str(error)


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 6-18 * * mon-fri", "@daily", "@quarterly", None])
def test_cron_expressions_presets_and_manual_only_are_schedules(schedule):
    (entity,) = parse_entities([_entity("acme", schedule=schedule)]).entities
    assert entity.schedule == schedule


def test_the_quality_policy_falls_back_to_each_suite_s_threshold():
    [entity] = parse_entities([_entity(quality={"allowed_currencies": ["EUR"],
                                                "max_failure_rates": {"documents": 0.25}})]).entities
    assert entity.quality.allowed_currencies == ("EUR",)
    assert entity.quality.max_failure_rate("documents") == 0.25
    assert (entity.quality.max_failure_rate("payments"), entity.quality.max_failure_rate("reference")) == (0.10, 0.05)


def test_a_duplicate_id_is_an_error_and_the_first_wins():
    registry = parse_entities([_entity("acme", name="First"), _entity("acme", name="Second")])
    assert [e.name for e in registry.entities] == ["First"]
    assert "duplicate" in str(registry.errors[0])


def test_get_explains_why_an_entity_is_missing():
    registry = parse_entities([_entity("bad", base_currency="x")])
    with pytest.raises(KeyError, match="base_currency"):
        registry.get("bad")
    with pytest.raises(KeyError, match="no legal entity 'nope'"):
        registry.get("nope")


@pytest.mark.parametrize("text", ["legal_entities: [unclosed", "just a string", "legal_entities: {}"])
def test_an_unreadable_file_says_so(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RegistryFileError, match=str(path)):
        load_registry(path)


@pytest.mark.parametrize("raw, expected", [
    ({}, (False, None, False)),
    ({"dry_run": "false", "full_refresh": "TRUE"}, (True, None, False)),
    ({"sync_from": "2026-10-01", "dry_run": True}, (False, "2026-10-01", True)),
    ({"sync_from": None}, (False, None, False)),
])
def test_run_params_parse_strictly(raw, expected):
    from ledgerbridge.pipeline import RunParams

    params = RunParams.from_mapping(raw)
    assert (params.full_refresh, params.sync_from and params.sync_from.isoformat(), params.dry_run) == expected


@pytest.mark.parametrize("raw, message", [
    ({"dryrun": True}, "unknown run param"),
    ({"dry_run": "yes"}, "dry_run"),
    ({"sync_from": "last tuesday"}, "sync_from"),
])
def test_bad_run_params_are_refused(raw, message):
    from ledgerbridge.pipeline import RunParams

    with pytest.raises(ValueError, match=message):
        RunParams.from_mapping(raw)


def test_two_entities_on_one_connection_is_an_error():
    shared = {"kind": "quickbooks_online", "conn_id": "qbo_shared"}
    registry = parse_entities([_entity("acme", accounting=shared), _entity("globex", accounting=shared)])
    assert [e.id for e in registry.entities] == ["acme"]
    assert "accounting.conn_id" in str(registry.errors[0]) and "'acme'" in str(registry.errors[0])


def test_a_source_is_optional_and_named_by_kind_and_connection():
    registry = parse_entities([_entity("acme", source={"kind": "feed", "conn_id": "feed_acme"}), _entity("globex")])
    acme, globex = registry.entities
    assert (acme.source.kind, acme.source.conn_id) == ("feed", "feed_acme") and globex.source is None
    assert all(e.source is not None for e in load_registry().entities)  # the demo's hub data comes through feeds


FEED = "feed"


@pytest.mark.parametrize("acme_source, globex_source, field, words", [
    ({"kind": FEED, "conn_id": "feed_shared"}, {"kind": FEED, "conn_id": "feed_shared"},
     "source.conn_id", "already the connection of 'acme'"),
    (None, {"kind": FEED, "conn_id": "qbo_acme"}, "source.conn_id", "already the connection of 'acme'"),
    (None, {"kind": FEED, "conn_id": "qbo_globex"}, "source.conn_id", "also the entity's accounting connection"),
    (None, {"kind": "erp", "conn_id": "erp_globex"}, "source.kind", "Input should be 'feed'"),
    (None, {"kind": FEED}, "source.conn_id", "Field required"),
    (None, {"kind": FEED, "conn_id": "feed_globex", "item_map": {"A": "B"}}, "source",
     "field(s) item_map apply to an ERP source (kind: syspro), not to kind feed"),
    (None, {"kind": "syspro", "conn_id": "erp_globex", "export_statuses": ["8"], "void_statuses": ["8"]}, "source",
     "status(es) 8 are both exported and voiding"),
])
def test_a_source_connection_belongs_to_one_entity_and_one_side(acme_source, globex_source, field, words):
    registry = parse_entities([_entity("acme", **({"source": acme_source} if acme_source else {})),
                               _entity("globex", source=globex_source)])
    assert [e.id for e in registry.entities] == ["acme"]
    (error,) = registry.errors
    assert f"field '{field}'" in str(error) and words in str(error) and "'globex'" in str(error)


def test_a_source_round_trips_through_its_dump_and_follows_changes_by_kind():
    feed, erp = (parse_entities([_entity("acme", source={"kind": kind, "conn_id": f"{kind}_acme"})]).entities[0]
                 for kind in (FEED, "syspro"))
    for entity in (feed, erp):
        assert parse_entities([entity.model_dump(mode="json")]).entities == (entity,)
    assert (feed.source.follows_changes, erp.source.follows_changes) == (False, True)
    held = parse_entities([_entity("acme", source={"kind": "syspro", "conn_id": "erp", "after_export": "hold"})])
    assert held.entities[0].source.follows_changes is False


def test_alerts_set_for_all_entities_are_taken_field_by_field_under_an_entitys_own(tmp_path):
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text("""
alerts:
  channels: [{kind: email, conn_id: smtp_ops, to: [ops@example.com]}]
  quarantine_above: 40
legal_entities:
  - {id: plain, name: Plain, base_currency: USD, accounting: {kind: quickbooks_online, conn_id: qbo_plain}}
  - id: own
    name: Own
    base_currency: USD
    accounting: {kind: quickbooks_online, conn_id: qbo_own}
    alerts: {review_above: null, channels: [{kind: webhook, conn_id: slack_own, endpoint: /services/X}]}
""")
    entities = {e.id: e for e in load_registry(registry).entities}
    plain, own = entities["plain"].alerts, entities["own"].alerts
    assert [c.conn_id for c in plain.channels] == ["smtp_ops"] and plain.quarantine_above == 40
    assert plain.review_above == 10  # the default
    assert [c.conn_id for c in own.channels] == ["slack_own"] and own.quarantine_above == 40
    assert own.review_above is None  # turned off for this entity only


def test_alerts_that_are_not_a_mapping_fail_the_file(tmp_path):
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text("alerts: [email]\nlegal_entities: []\n")
    with pytest.raises(RegistryFileError, match="'alerts' must be a mapping"):
        load_registry(registry)


def test_bad_top_level_alerts_fail_the_file_naming_the_field_not_every_entity(tmp_path):
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text("alerts: {quarantine_above: -1}\nlegal_entities: []\n")
    with pytest.raises(RegistryFileError, match="top-level alerts: field 'alerts.quarantine_above'"):
        load_registry(registry)


def test_an_entitys_empty_alerts_keep_the_shared_ones():
    (entity,) = parse_entities([_entity(alerts=None)], {"quarantine_above": 7}).entities
    assert entity.alerts.quarantine_above == 7


@pytest.mark.parametrize("sync, schedule", [
    ("realtime", "0 2 * * *"),  # the full run keeps reference data fresh, at night
    ("daily", "0 19 * * *"),  # once each evening
    ("manual", None),  # only when a person triggers a run
])
def test_a_sync_mode_without_a_schedule_takes_its_default(sync, schedule):
    (entity,) = parse_entities([_entity(sync=sync)]).entities
    assert (entity.sync, entity.schedule, entity.exports_in_realtime) == (sync, schedule, sync == "realtime")


def test_a_registry_without_sync_means_what_its_schedule_says():
    registry = parse_entities([_entity("nightly"), _entity("hourly", schedule="@hourly"),
                               _entity("by_hand", schedule=None)])
    assert [(e.id, e.sync, e.schedule, e.exports_in_realtime) for e in registry.entities] == [
        ("by_hand", None, None, False), ("hourly", None, "@hourly", False), ("nightly", None, "0 2 * * *", False)]


@pytest.mark.parametrize("sync, schedule", [
    ("daily", "30 18 * * 1-5"), ("daily", "@weekly"), ("realtime", "0 3 * * *"), ("realtime", "@hourly"),
    ("manual", None),
])
def test_a_sync_mode_takes_a_schedule_that_agrees_with_it(sync, schedule):
    (entity,) = parse_entities([_entity(sync=sync, schedule=schedule)]).entities
    assert entity.schedule == schedule


@pytest.mark.parametrize("overrides, words", [
    ({"sync": "manual", "schedule": "0 2 * * *"}, "sync: manual (runs only when a person triggers one) contradicts "
                                                  "schedule '0 2 * * *'"),
    ({"sync": "daily", "schedule": "*/15 * * * *"}, "sync: daily contradicts schedule '*/15 * * * *', which runs more "
                                                    "than once a day"),
    ({"sync": "daily", "schedule": "@hourly"}, "sync: daily contradicts schedule '@hourly'"),
    ({"sync": "daily", "schedule": None}, "sync: daily contradicts schedule: null; for manual runs only, say sync: manual"),
    ({"sync": "realtime", "schedule": None}, "sync: realtime contradicts schedule: null"),
    ({"sync": "hourly"}, "field 'sync': Input should be 'realtime', 'daily' or 'manual' (got 'hourly')"),
    ({"sync": ["daily"]}, "field 'sync'"),
])
def test_a_contradictory_or_unknown_sync_mode_is_an_error_of_its_entity(overrides, words):
    registry = parse_entities([_entity("acme", **overrides), _entity("globex")])
    assert [e.id for e in registry.entities] == ["globex"]
    (error,) = registry.errors
    assert str(error).startswith("registry: legal entity 'acme': ") and words in str(error)


def test_a_sync_mode_round_trips_through_its_dump():
    from ledgerbridge.registry import LegalEntity

    for sync in ("realtime", "daily", "manual"):
        (entity,) = parse_entities([_entity(sync=sync)]).entities
        assert LegalEntity.model_validate(entity.model_dump(mode="json")) == entity
