"""The security promises of the portal, as tables a reviewer can read row by row (issue 11).

Each section is one parametrised test over a table of cases:
  1. exports    - every CSV and XLSX export of every portal page, over the hostile row set
  2. messages   - each alert transport's real payload built from a hostile lead
  3. admin      - malformed filters and capped searches on the sync tables' admins (400, never 500)
  4. proxies    - the client address from trusted and untrusted peers (/metrics, lockout)
  5. headers    - CSP, Permissions-Policy and Cache-Control on pages, exports and the API
  6. CSRF       - every POST endpoint refuses a request without the token
The role matrix over every URL and action lives in tests/test_access.py and
tests/test_admin_permissions*.py (kept as they are).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from django.urls import reverse

from monitoring.services import alerts as alert_services
from tests.alert_helpers import channels, server  # noqa: F401 (fixtures)
from tests.security_helpers import CR, FORMULA, HOSTILE, SLACK, XSS, INERT, TRIGGERS, csv_cells, hostile_rows, xlsx_cells

pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile(db):
    rows = hostile_rows()
    alert_services.evaluate_alerts()  # the renamed high-error rule fires, listing the hostile names
    return rows


# --- 1. exports ---------------------------------------------------------------------------------------

# (page, table): must show the hostile values. Other tables of these pages only hold numbers,
# codes or times; they are exported and checked for live formulas all the same.
CARRIES_HOSTILE_TEXT = {
    ("leads", "rows"), ("errors", "rows"), ("lead-detail", "rows"), ("activity", "activity"),
    ("segments", "segments"), ("error-groups", "groups"), ("alerts", "firing"), ("alerts", "incidents"),
    ("alerts", "rules"),
}
EXPORT_PAGES = [
    "overview", "performance", "lead-flow", "errors", "error-groups", "segments", "activity",
    "daily-summary", "debug", "leads", "lead-detail", "jobs", "alerts",
]


def _page_url(name: str, hostile) -> str:
    if name == "lead-detail":
        return reverse("monitoring:lead-detail", args=[hostile.leads[0].pk])
    return reverse(f"monitoring:{name}")


@pytest.mark.parametrize("page", EXPORT_PAGES)
def test_every_export_of_the_page_is_inert(page, hostile, viewer_client):
    url = _page_url(page, hostile)
    tables = list(viewer_client.get(url).context["tables"])
    for table in tables:
        csv_response = viewer_client.get(url, {"_export": "csv", "_table": table})
        xlsx_response = viewer_client.get(url, {"_export": "xlsx", "_table": table})
        assert (csv_response.status_code, xlsx_response.status_code) == (200, 200), (page, table)
        csv_values = csv_cells(csv_response.content)
        xlsx_values = xlsx_cells(xlsx_response.content)
        # No cell a spreadsheet would evaluate, and every XLSX cell is a string cell.
        assert [v for v in csv_values if v.startswith(TRIGGERS)] == [], (page, table)
        assert {kind for kind, _ in xlsx_values} <= {"s"}, (page, table)
        assert [v for _, v in xlsx_values if v.startswith(TRIGGERS)] == [], (page, table)
        if (page, table) in CARRIES_HOSTILE_TEXT:
            inert = set(INERT.values())
            shown = {v for v in csv_values if v in inert} | {
                text for v in csv_values for text in inert if text in v and page in ("alerts", "error-groups")
            }
            assert shown, (page, table, csv_values[:40])
            # XML turns a lone CR into a line feed on reading: compare the rest exactly.
            comparable = inert - {INERT[CR]}
            assert {v for v in csv_values if v in comparable} == {v for _, v in xlsx_values if v in comparable}, (page, table)


@pytest.mark.parametrize("value", HOSTILE)
def test_the_lead_export_carries_each_hostile_value_as_its_inert_text(value, hostile, viewer_client):
    url = reverse("monitoring:leads")
    csv_values = csv_cells(viewer_client.get(url, {"_export": "csv"}).content)
    xlsx_values = [v for _, v in xlsx_cells(viewer_client.get(url, {"_export": "xlsx"}).content)]
    assert INERT[value] in csv_values
    assert INERT[value].replace("\r", "\n") in [v.replace("\r", "\n") for v in xlsx_values]
    assert value not in csv_values or value == INERT[value]


# --- 2. messages ----------------------------------------------------------------------------------


def _deliver_hostile_alert(server, channels) -> None:
    """A lead named with Slack control sequences trips the high-error rule; the message goes out for real."""
    from monitoring.choices import LeadSyncStatus, RuleKind
    from monitoring.models import AlertRule, Lead

    Lead.objects.create(first_name=SLACK, last_name="& co", company_name=FORMULA, email="slack@example.com",
                        sync_status=LeadSyncStatus.ERROR, sync_error_count=9, sync_error_message=SLACK)
    rule = AlertRule.objects.filter(kind=RuleKind.HIGH_ERROR_LEADS).order_by("pk").first()
    AlertRule.objects.exclude(pk=rule.pk).update(enabled=False)
    rule.name, rule.consecutive_checks, rule.enabled = "Errors\r\nBcc: victim@example.com <b>", 1, True
    rule.save()
    rule.channels.set(channels.values())
    alert_services.evaluate_alerts()
    alert_services.deliver_due_notifications()


def test_slack_payload_from_a_hostile_lead_is_inert(server, channels):
    _deliver_hostile_alert(server, channels)
    [slack] = [r["json"] for r in server.requests if r["path"].startswith("/services/")]
    text = slack["text"]
    # No mention and no disguised link survive: Slack only parses <...>, and & starts an entity.
    assert "<!channel>" not in text and "<!here>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;https://evil.example/phish|Click to fix&gt; &amp; co (9)" in text
    assert "<" not in text and ">" not in text


def test_telegram_payload_from_a_hostile_lead_is_plain_text(server, channels):
    _deliver_hostile_alert(server, channels)
    [telegram] = [r["json"] for r in server.requests if r["path"].startswith("/bot")]
    # No parse_mode: Telegram shows the text as typed, markup and all.
    assert "parse_mode" not in telegram
    assert f"{SLACK} & co (9)" in telegram["text"]


def test_email_subject_from_a_hostile_rule_name_is_one_line(server, channels):
    from django.core import mail

    from monitoring.models import Delivery, DeliveryStatus

    _deliver_hostile_alert(server, channels)
    [email] = mail.outbox
    assert "\r" not in email.subject and "\n" not in email.subject
    assert email.subject == "[WARNING] FIRING: Errors Bcc: victim@example.com <b>"
    message = email.message()
    assert message["Bcc"] is None and email.bcc == []
    assert f"{SLACK} & co (9)" in email.body  # the body is plain text: shown as typed
    assert Delivery.objects.filter(channel=channels["email"]).get().status == DeliveryStatus.SENT


# --- 4. proxies: whose X-Forwarded-For is believed --------------------------------------------------

TRUSTED = ["127.0.0.1", "::1", "10.0.0.0/8"]
# (peer, X-Forwarded-For, the address the portal must use)
PROXY_CASES = [
    ("127.0.0.1", None, "127.0.0.1"),  # a trusted peer without the header: itself
    ("127.0.0.1", "203.0.113.7", "203.0.113.7"),  # nginx on the same host
    ("127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client's own header is left of ours
    ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),  # two trusted proxies
    ("10.9.9.9", "[2001:db8::5]:4711", "2001:db8::5"),  # an IPv6 client with a port, from a trusted network
    ("::1", "127.0.0.1", "127.0.0.1"),  # only trusted hops: the origin
    ("127.0.0.1", "not-an-ip, 203.0.113.7", "127.0.0.1"),  # a malformed chain is not believed at all
    ("198.51.100.9", "127.0.0.1", "198.51.100.9"),  # untrusted peer forging loopback: ignored
    ("198.51.100.9", None, "198.51.100.9"),
]


@pytest.mark.parametrize(("peer", "forwarded", "expected"), PROXY_CASES)
def test_real_client_address(peer, forwarded, expected, settings):
    from monitoring.client_address import real_client_address

    settings.TRUSTED_PROXIES = TRUSTED
    meta = {"REMOTE_ADDR": peer} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    assert real_client_address(meta) == expected


def test_without_trusted_proxies_the_header_is_never_believed(settings):
    from monitoring.client_address import real_client_address

    settings.TRUSTED_PROXIES = []
    assert real_client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}) == "127.0.0.1"


# (peer, X-Forwarded-For, /metrics status without a token)
METRICS_CASES = [
    ("127.0.0.1", None, 200),  # a scraper on the host itself
    ("127.0.0.1", "203.0.113.7", 401),  # an outsider through the proxy: no longer the proxy's address
    ("198.51.100.9", "127.0.0.1", 401),  # an outsider forging loopback
]


@pytest.mark.parametrize(("peer", "forwarded", "status"), METRICS_CASES)
def test_metrics_allow_list_uses_the_real_address(peer, forwarded, status, client, settings):
    settings.TRUSTED_PROXIES = TRUSTED
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    assert client.get("/metrics", REMOTE_ADDR=peer, **headers).status_code == status


def test_a_stranger_cannot_lock_an_operator_out_through_the_proxy(client, viewer, settings):
    from django.test import Client

    from tests.conftest import PASSWORD

    settings.TRUSTED_PROXIES = TRUSTED
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for _ in range(6):
        response = client.post(reverse("login"), {"username": "viewer", "password": "wrong"},
                               HTTP_X_FORWARDED_FOR="203.0.113.66", **via_proxy)
    assert response.status_code == 429  # the stranger's address is locked ...
    operator = Client()
    response = operator.post(reverse("login"), {"username": "viewer", "password": PASSWORD},
                             HTTP_X_FORWARDED_FOR="198.51.100.20", **via_proxy)
    assert response.status_code == 302  # ... the operator's is not
    from axes.models import AccessAttempt

    assert list(AccessAttempt.objects.values_list("username", "ip_address")) == [("viewer", "203.0.113.66")]


# --- 3. admin: malformed filters and searches answer 400 (or the admin's own "invalid filter"), never 500

LEADS = "/admin/monitoring/lead/"
HISTORY = "/admin/monitoring/leadsynchistory/"
SEGMENTS = "/admin/monitoring/customersegment/"
# (changelist, query string, status, words the user sees)
ADMIN_BAD_INPUT = [
    (LEADS, "sync_status__exact=%00", 400, "NUL"),
    (HISTORY, "sync_status__exact=%00", 400, "NUL"),
    (SEGMENTS, "q=%00", 400, "NUL"),
    (LEADS, "created_at__year=" + "9" * 31, 400, "year"),
    (LEADS, "created_at__year=2026&created_at__month=" + "9" * 25, 400, "month"),
    (LEADS, "created_at__year=2026&created_at__month=13", 400, "month"),
    (LEADS, "created_at__year=2026&created_at__month=2&created_at__day=31", 400, "day"),
    (LEADS, "q=" + "a+" * 200, 400, "at most"),
    (HISTORY, "q=" + "a+" * 900, 400, "at most"),
    (HISTORY, "q=" + "x" * 300, 400, "at most"),
    (LEADS, "sync_error_count__gte=abc", 302, "e=1"),  # the admin's own "invalid filter" answer
]


@pytest.mark.parametrize(("url", "query", "status", "reason"), ADMIN_BAD_INPUT)
def test_malformed_admin_input_is_a_clear_400(url, query, status, reason, superuser_client, sync_dataset):
    response = superuser_client.get(f"{url}?{query}")
    assert response.status_code == status
    text = response["Location"] if status == 302 else response.content.decode()
    assert reason in text


SEARCHES = [
    # (changelist, term, names expected in the result)
    (LEADS, "tw-ada", {"Ada Lovelace"}),
    (LEADS, "lovelace", {"Ada Lovelace"}),
    (HISTORY, "tw-ada", {"Ada Lovelace"}),
    (HISTORY, "rate limit", {"Alan Turing"}),
    (HISTORY, "katherine@example.com", {"Katherine"}),
]


@pytest.mark.parametrize(("url", "term", "names"), SEARCHES)
def test_admin_search_finds_by_id_email_and_words(url, term, names, viewer_client, sync_dataset):
    response = viewer_client.get(url, {"q": term})
    assert response.status_code == 200
    shown = {str(obj.lead if hasattr(obj, "lead") else obj) for obj in response.context["cl"].result_list}
    assert {name for name in names if any(name in s for s in shown)} == names, shown


def test_admin_search_by_lead_uuid_is_exact(viewer_client, sync_dataset):
    pk = sync_dataset.alan.pk
    history = viewer_client.get(HISTORY, {"q": str(pk)}).context["cl"].result_list
    assert {row.lead_id for row in history} == {pk} and len(history) == 2
    leads = viewer_client.get(LEADS, {"q": f"  {str(pk).upper()} "}).context["cl"].result_list
    assert [lead.pk for lead in leads] == [pk]


# Fuzzed query strings: real parameter names with hostile values, and hostile names. Derandomised,
# so a failure reproduces; each example is one changelist request that must not raise (the test
# client re-raises what would be a 500).
FUZZ_KEYS = {
    LEADS: ["q", "sync_status__exact", "sync_direction__exact", "segment__id__exact", "source", "in_twenty",
            "errors", "stuck", "stale", "created_at__year", "created_at__month", "created_at__day", "o", "p"],
    HISTORY: ["q", "within", "sync_status__exact", "sync_type__exact", "sync_direction__exact", "lead__id__exact",
              "o", "p"],
    SEGMENTS: ["q", "o", "p"],
}
_hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["%00", "\x00", "9" * 31, "-1", "1e309", "NaN", "０", "ß", "🙂", "'; --", "a " * 50, *HOSTILE]),
    st.integers(min_value=-10**40, max_value=10**40).map(str),
)


@pytest.mark.parametrize("url", list(FUZZ_KEYS))
@hypothesis_settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_admin_query_strings_never_500(url, data, superuser_client, sync_dataset):
    keys = st.one_of(st.sampled_from(FUZZ_KEYS[url]), st.text(min_size=1, max_size=20))
    params = data.draw(st.dictionaries(keys, _hostile_text, max_size=4))
    response = superuser_client.get(url, params)
    assert response.status_code in (200, 302, 400), (params, response.status_code)


# --- 5. headers and sessions ---------------------------------------------------------------------------

# (url, query): pages, exports, the admin and the API all carry the headers.
HEADER_URLS = [
    ("/", {}),
    ("/leads/", {}),
    ("/leads/", {"_export": "csv"}),
    ("/errors/", {"_export": "xlsx"}),
    ("/alerts/", {}),
    ("/activity/data/", {}),
    ("/admin/monitoring/lead/", {}),
    ("/api/sync-metrics/", {}),
    ("/metrics", {}),
    ("/accounts/login/", {}),
]


@pytest.mark.parametrize(("url", "query"), HEADER_URLS)
def test_security_headers(url, query, viewer, sync_dataset):
    from django.test import Client

    from monitoring.services.api_tokens import create_api_token

    client = Client()
    client.force_login(viewer)
    secret = create_api_token(user=viewer, name="headers")[1]
    response = client.get(url, query, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.status_code
    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    csp = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'" and csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and "unsafe-inline" not in response["Content-Security-Policy"]


PAGES_FOR_INLINE_CHECK = ["/", "/performance/", "/activity/data/", "/lead-flow/", "/errors/", "/error-groups/", "/segments/",
                          "/activity/", "/daily-summary/", "/debug/", "/leads/", "/jobs/", "/alerts/",
                          "/admin/", "/admin/monitoring/lead/", "/admin/monitoring/leadsynchistory/",
                          "/accounts/login/"]


@pytest.mark.parametrize("url", PAGES_FOR_INLINE_CHECK)
def test_pages_escape_hostile_rows_and_have_no_inline_script_or_style(url, superuser_client, hostile):
    import re

    html = superuser_client.get(url).content.decode()
    assert XSS not in html  # the hostile lead's name, company and error arrive escaped (if shown at all)
    inline_scripts = [m for m in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
                      if "src=" not in m[0] and "application/json" not in m[0] and m[1].strip()]
    assert inline_scripts == [] and " style=" not in html and "<style" not in html and " on" + "click=" not in html


@pytest.mark.parametrize("url", ["/leads/", "/errors/", "/activity/", "/alerts/", "/admin/monitoring/lead/"])
def test_hostile_names_are_shown_escaped(url, superuser_client, hostile):
    html = superuser_client.get(url).content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_static_files_keep_their_cache_headers(client):
    response = client.get("/static/monitoring/portal.css")
    assert response.status_code == 200 and "no-store" not in response.get("Cache-Control", "")


def test_sessions_last_12_hours_by_default(settings, client, viewer):
    from tests.conftest import PASSWORD

    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    response = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD})
    assert response.cookies["sessionid"]["max-age"] == 12 * 3600


# (token lifetime, moment of use, status, words of the answer)
TOKEN_CASES = [
    ("default", "now", 200, None),
    ("default", "after 91 days", 401, "This token expired at"),
    ("never", "after 400 days", 200, None),
]


@pytest.mark.parametrize(("lifetime", "when", "status", "reason"), TOKEN_CASES)
def test_api_tokens_expire(lifetime, when, status, reason, client, viewer, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from monitoring.models import ApiToken
    from monitoring.services.api_tokens import create_api_token

    assert settings.API_TOKEN_LIFETIME_DAYS == 90
    token, secret = create_api_token(user=viewer, name="n8n", lifetime=True if lifetime == "default" else None)
    days = {"now": 0, "after 91 days": 91, "after 400 days": 400}[when]
    with time_machine.travel(timezone.now() + timedelta(days=days), tick=False):
        response = client.get("/api/sync-metrics/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == status
    if reason:
        assert reason in response.json()["error"] and "invalid_token" in response["WWW-Authenticate"]
    else:
        assert ApiToken.objects.get(pk=token.pk).last_used_at is not None  # last use, shown in the admin


def test_the_token_admin_shows_expiry_and_last_use(superuser_client, viewer):
    from monitoring.services.api_tokens import create_api_token

    create_api_token(user=viewer, name="n8n")
    page = superuser_client.get("/admin/monitoring/apitoken/").content.decode()
    assert "Last used at" in page or "last used at" in page.lower()
    assert "expires at" in page.lower()


# --- 6. CSRF: every POST endpoint refuses a request without the token ---------------------------------


@pytest.fixture
def post_targets(hostile, superuser):
    from django.utils import timezone

    from monitoring.models import Channel, ChannelKind, Delivery, DeliveryStatus, Incident, MessageKind

    incident = Incident.objects.filter(state="firing").first()
    channel = Channel.objects.create(name="csrf", kind=ChannelKind.SLACK, config={"webhook_url": "http://127.0.0.1:9/x"},
                                     enabled=False, disabled_reason="test", disabled_at=timezone.now())
    delivery = Delivery.objects.create(incident=incident, channel=channel, kind=MessageKind.FIRING, subject="s",
                                       body="b", status=DeliveryStatus.FAILED)
    lead = hostile.leads[0]
    return {
        "login": (reverse("login"), {"username": "root", "password": "x"}),
        "logout": (reverse("logout"), {}),
        "acknowledge": (reverse("monitoring:alert-acknowledge", args=[incident.pk]), {}),
        "snooze": (reverse("monitoring:alert-snooze", args=[incident.pk]), {}),
        "resend": (reverse("monitoring:alert-resend", args=[delivery.pk]), {}),
        "enable channel": (reverse("monitoring:alert-channel-enable", args=[channel.pk]), {}),
        "lead repair action": (LEADS, {"action": "retry_sync", "_selected_action": [lead.pk]}),
        "lead edit": (reverse("admin:monitoring_lead_change", args=[lead.pk]), {"first_name": "x"}),
        "channel test message": ("/admin/monitoring/channel/", {"action": "send_test_message", "_selected_action": [channel.pk]}),
        "channel delete": (reverse("admin:monitoring_channel_delete", args=[channel.pk]), {"post": "yes"}),
        "token revoke": ("/admin/monitoring/apitoken/", {"action": "revoke", "_selected_action": [1]}),
        "segment add": ("/admin/monitoring/customersegment/add/", {"segment_name": "x"}),
        "password change": ("/admin/password_change/", {"old_password": "x"}),
    }


CSRF_CASES = ["login", "logout", "acknowledge", "snooze", "resend", "enable channel", "lead repair action",
              "lead edit", "channel test message", "channel delete", "token revoke", "segment add", "password change"]


@pytest.mark.parametrize("target", CSRF_CASES)
def test_every_post_needs_the_csrf_token(target, post_targets, superuser):
    from django.test import Client

    url, data = post_targets[target]
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    refused = client.post(url, data)
    assert refused.status_code == 403 and "CSRF" in refused.content.decode()
    # With the token the same request gets past the check (so the 403 above was the CSRF check).
    client.get("/admin/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(url, {**data, "csrfmiddlewaretoken": token})
    assert accepted.status_code != 403 or "CSRF" not in accepted.content.decode()
