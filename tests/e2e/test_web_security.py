"""The staff pages' security, tried from the outside: passwords, cookies, CSRF, who may read and
change what (by URL and by form), the login rate limit, and the audit of logins and of views of
safeguarding records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from tests.e2e.web_client import csrf, login, pages
from tests.e2e.web_world import SAFEGUARDING_PUPIL, World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def _staff(world: World) -> tuple[StaffStore, Store]:
    store = Store(world.url)
    return StaffStore(store.engine), store


def _open_task(world: World, school: str, role: str | None = None, kind: str | None = None) -> Any:
    service = world.service()
    try:
        for task in service.tasks(school=school, role=role):
            if kind is None or task.kind == kind:
                return task
    finally:
        service.store.dispose()
    raise AssertionError(f"no open {role} task at {school}")


def _task_status(world: World, task_id: int) -> str:
    service = world.service()
    try:
        return str(service.task(task_id).status)
    finally:
        service.store.dispose()


def _audit(world: World, action: str) -> list[Any]:
    staff, store = _staff(world)
    try:
        return staff.audit_entries(action=action)
    finally:
        store.dispose()


# -- passwords and cookies ---------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(world: World) -> None:
    staff, store = _staff(world)
    try:
        record = staff.by_username("lead")
    finally:
        store.dispose()
    assert record is not None
    assert record.password_hash.startswith("$argon2id$")
    assert "correct-horse" not in record.password_hash


@pytest.mark.parametrize(
    ("https", "setting", "secure"),
    [(True, "auto", True), (False, "auto", False), (True, "always", True), (True, "never", False)],
)
def test_session_cookie_is_httponly_lax_and_secure_over_https(
    world: World, https: bool, setting: str, secure: bool
) -> None:
    with pages(world, https=https, cookie_secure=setting) as c:
        page = c.get("/login")
        from tests.e2e.web_client import token

        response = c.post(
            "/login",
            data={
                "login_token": token(page.text, "login_token"),
                "username": "lead",
                "password": "correct-horse-battery",
            },
        )
    assert response.status_code == 303
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("ef_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert ("secure" in flags) is secure


def test_cookies_are_secure_when_configured_so_even_behind_plain_http(world: World) -> None:
    with pages(world, https=False, cookie_secure="always") as c:
        response = c.get("/login")
    assert "secure" in response.headers["set-cookie"].lower()


def test_pages_need_a_login(client: TestClient) -> None:
    response = client.get("/schools/school-01/pupils/S01-P0001")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_forged_session_cookie_is_not_a_login(client: TestClient) -> None:
    client.cookies.set("ef_session", "not-a-real-token")
    assert client.get("/tasks").status_code == 303


def test_logging_out_ends_the_session_on_the_server(client: TestClient) -> None:
    assert login(client, "lead") == 303
    stolen = client.cookies.get("ef_session")
    assert client.post("/logout", data={"csrf_token": csrf(client)}).status_code == 303
    client.cookies.set("ef_session", stolen or "")
    assert client.get("/tasks").status_code == 303


def test_login_refuses_to_send_anyone_to_another_site(client: TestClient) -> None:
    from tests.e2e.web_client import token

    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "login_token": token(page.text, "login_token"),
            "username": "lead",
            "password": "correct-horse-battery",
            "next": "//evil.example/phish",
        },
    )
    assert response.headers["location"] == "/tasks"


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # no script at all
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


# -- CSRF ----------------------------------------------------------------------------------------


def test_login_form_without_its_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"username": "lead", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert "ef_session" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_every_form_without_the_session_token_is_refused(
    world: World, client: TestClient, token: str | None
) -> None:
    task = _open_task(world, "school-01", "attendance_team", kind="call")
    letter = _open_task(world, "school-01", kind="letter")
    assert login(client, "lead") == 303
    data = {} if token is None else {"csrf_token": token}
    posts = [
        (f"/tasks/{task.id}/complete", {**data, "outcome": "contact_made"}),
        ("/tasks/acknowledge", {**data, "task_id": str(task.id)}),
        (f"/letters/{letter.letter_id}/approve", data),
        ("/schools/school-01/pupils/S01-P0001/events", {**data, "event": "la_case_closed"}),
        ("/logout", data),
    ]
    for path, form in posts:
        assert client.post(path, data=form).status_code == 403, path
    assert _task_status(world, task.id) == "open"
    assert client.get("/tasks").status_code == 200  # still logged in: logout was refused too


# -- who reads and changes what -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/schools/school-03",
        "/schools/school-03/flow",
        "/schools/school-03/flow.svg",
        f"/schools/school-03/pupils/{SAFEGUARDING_PUPIL}",
        "/schools/school-01/pupils/S01-P0029",  # school-01 but Year 2, not the teacher's Year 3
        "/schools/school-01/pupils/NOBODY",
        "/trust",
    ],
)
def test_a_class_teacher_reads_nothing_outside_their_classes_by_url(
    client: TestClient, path: str
) -> None:
    assert login(client, "teacher") == 303
    response = client.get(path)
    assert response.status_code == 404, path
    assert "Evie" not in response.text and "Baker" not in response.text


def test_a_class_teacher_reads_their_own_class(client: TestClient) -> None:
    assert login(client, "teacher") == 303
    page = client.get("/schools/school-01/pupils/S01-P0001")  # Year 3
    assert page.status_code == 200
    assert "Ava Wood" in page.text


def test_a_class_teacher_changes_nothing_at_another_school_by_form(
    world: World, client: TestClient
) -> None:
    task = _open_task(world, "school-03", "class_teacher")
    assert login(client, "teacher") == 303
    token = csrf(client)
    responses = [
        client.post(f"/tasks/{task.id}/complete", data={"csrf_token": token, "outcome": "done"}),
        client.post("/tasks/acknowledge", data={"csrf_token": token, "task_id": str(task.id)}),
        client.post(
            f"/schools/school-03/pupils/{task.pupil}/events",
            data={"csrf_token": token, "event": "parent_did_not_attend"},
        ),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert _task_status(world, task.id) == "open"


def test_a_letter_of_another_school_is_not_found(world: World, client: TestClient) -> None:
    letter_task = _open_task(world, "school-01", kind="letter")
    assert login(client, "lead3") == 303
    token = csrf(client)
    assert client.get(f"/letters/{letter_task.letter_id}").status_code == 404
    assert client.get(f"/letters/{letter_task.letter_id}/view").status_code == 404
    approve = client.post(f"/letters/{letter_task.letter_id}/approve", data={"csrf_token": token})
    assert approve.status_code == 404


def test_an_auditor_reads_everything_and_changes_nothing(world: World, client: TestClient) -> None:
    task = _open_task(world, "school-01", "attendance_team", kind="call")
    letter = _open_task(world, "school-01", kind="letter")
    assert login(client, "auditor") == 303
    assert client.get("/schools/school-01").status_code == 200
    assert client.get(f"/schools/school-01/pupils/{task.pupil}").status_code == 200
    token = csrf(client, "/schools/school-01")
    responses = [
        client.post(
            f"/tasks/{task.id}/complete", data={"csrf_token": token, "outcome": "contact_made"}
        ),
        client.post("/tasks/acknowledge", data={"csrf_token": token, "task_id": str(task.id)}),
        client.post(f"/letters/{letter.letter_id}/approve", data={"csrf_token": token}),
        client.post(
            f"/schools/school-01/pupils/{task.pupil}/events",
            data={"csrf_token": token, "event": "la_case_closed"},
        ),
    ]
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert _task_status(world, task.id) == "open"


def test_staff_cannot_record_a_task_that_is_another_roles(world: World, client: TestClient) -> None:
    task = _open_task(world, "school-01", "attendance_team", kind="call")
    assert login(client, "office") == 303  # school office, same school
    response = client.post(
        f"/tasks/{task.id}/complete", data={"csrf_token": csrf(client), "outcome": "contact_made"}
    )
    assert response.status_code == 403
    assert _task_status(world, task.id) == "open"


# -- logins ---------------------------------------------------------------------------------------


def test_wrong_passwords_are_slowed_not_locked_and_every_try_is_audited(
    world: World, client: TestClient
) -> None:
    for _ in range(3):
        assert login(client, "lead", "not the password") == 401
    assert login(client, "lead") == 429  # the right password, but it must wait (2 seconds)
    assert len(_audit(world, "login_failed")) == 3
    assert len(_audit(world, "login_refused_rate_limit")) == 1
    assert login(client, "head") == 303  # another account from the same address still works
    assert [e.actor for e in _audit(world, "login")] == ["head"]


def test_an_unknown_username_fails_like_a_wrong_password(client: TestClient) -> None:
    assert login(client, "nobody-here") == 401
    assert login(client, "lead", "wrong password here") == 401


# -- safeguarding ---------------------------------------------------------------------------------


def test_safeguarding_details_are_shown_to_the_dsl_and_the_view_is_audited(
    world: World, client: TestClient
) -> None:
    assert login(client, "dsl") == 303
    page = client.get(f"/schools/school-03/pupils/{SAFEGUARDING_PUPIL}")
    assert page.status_code == 200
    assert "Dsl review" in page.text or "DSL review" in page.text
    assert "Sibling mentioned a worry at home" in page.text
    views = _audit(world, "view_safeguarding")
    assert [(v.actor, v.school, v.pupil) for v in views] == [
        ("dsl", "school-03", SAFEGUARDING_PUPIL)
    ]


@pytest.mark.parametrize("username", ["lead3", "auditor"])
def test_safeguarding_details_are_hidden_from_other_staff(
    world: World, client: TestClient, username: str
) -> None:
    assert login(client, username) == 303
    page = client.get(f"/schools/school-03/pupils/{SAFEGUARDING_PUPIL}")
    assert page.status_code == 200
    assert "Sibling mentioned a worry at home" not in page.text
    assert "DSL review" not in page.text
    assert "Only the designated safeguarding lead" in page.text
    assert "Child Protection" not in page.text  # not even which stage the case is in
    dashboard = client.get("/schools/school-03")
    assert "Child Protection" not in dashboard.text
    assert "details only for the designated safeguarding lead" in dashboard.text
    assert _audit(world, "view_safeguarding") == []


def test_the_trust_team_sees_safeguarding_details_and_is_audited(
    world: World, client: TestClient
) -> None:
    assert login(client, "trust") == 303
    page = client.get(f"/schools/school-03/pupils/{SAFEGUARDING_PUPIL}")
    assert "Sibling mentioned a worry at home" in page.text
    assert [v.actor for v in _audit(world, "view_safeguarding")] == ["trust"]


def test_a_letter_still_to_render_says_its_pdf_is_being_prepared(
    world: World, client: TestClient
) -> None:
    """Letters are rendered after the evening's commit (issue 13): until then the page says so."""
    letter_task = _open_task(world, "school-01", kind="letter")
    assert login(client, "lead") == 303
    before = client.get(f"/letters/{letter_task.letter_id}").text
    assert "being prepared" in before and "Download PDF to print" not in before
    assert client.get(f"/letters/{letter_task.letter_id}/pdf").content.startswith(b"%PDF")
    after = client.get(f"/letters/{letter_task.letter_id}").text
    assert "Download PDF to print" in after and "being prepared" not in after
