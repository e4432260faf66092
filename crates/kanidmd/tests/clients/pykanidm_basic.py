"""The published Python client (kanidm 1.3.0 from PyPI) against our server: its person, group and
service-account calls as an administrator script would make them. Prints one line per step;
exits non-zero at the first failure. usage: pykanidm_basic.py URL CA_PATH IDM_ADMIN_PASSWORD"""
import asyncio, sys
from kanidm import KanidmClient


async def main(url: str, ca: str, password: str) -> None:
    c = KanidmClient(uri=url, ca_path=ca)
    assert await c.status() is True, "status"
    auth = await c.authenticate_password("idm_admin", password, update_internal_auth_token=True)
    assert auth.state.success, f"login: {auth}"
    assert await c.check_token_valid(), "token valid"
    assert not await c.check_token_valid("not-a-token"), "junk token refused"
    print("login ok")

    r = await c.person_account_create("pyperson", "Py Person")
    assert r.status_code == 200, f"person create: {r}"
    p = await c.person_account_get("pyperson")
    assert p.name == "pyperson" and p.spn == "pyperson@localhost" and p.displayname == "Py Person", p
    assert any(x.name == "pyperson" for x in await c.person_account_list()), "person list"
    print("person ok")

    r = await c.group_create("pygroup")
    assert r.status_code == 200, f"group create: {r}"
    r = await c.group_add_members("pygroup", ["pyperson"])
    assert r.status_code == 200, f"add members: {r}"
    g = await c.group_get("pygroup")
    assert g.name == "pygroup" and g.spn == "pygroup@localhost", g
    assert any("pyperson" in m for m in (g.member or [])), f"members: {g}"
    assert any(x.name == "pygroup" for x in await c.group_list()), "group list"
    r = await c.group_delete_members("pygroup", ["pyperson"])
    assert r.status_code == 200, f"remove members: {r}"
    assert not (await c.group_get("pygroup")).member, "members removed"
    print("group ok")

    r = await c.service_account_create("pyrobot", "Py Robot")
    assert r.status_code == 200, f"service account create: {r}"
    sa = await c.service_account_get("pyrobot")
    assert sa.spn == "pyrobot@localhost", sa
    assert any(x.name == "pyrobot" for x in await c.service_account_list()), "service account list"
    print("service account ok")

    # OAuth2 clients, with the 2022 attribute names this client still sends on create.
    r = await c.oauth2_rs_basic_create("pyapp", "Py App", "https://pyapp.example.com/")
    assert r.status_code == 200, f"oauth2 create: {r}"
    app = await c.oauth2_rs_get("pyapp")
    assert app.name == "pyapp" and app.displayname == "Py App", app
    secret = await c.oauth2_rs_secret_get("pyapp")
    assert isinstance(secret, str) and len(secret) == 48, f"secret: {secret!r}"
    r = await c.oauth2_rs_update_scope_map("pyapp", "pygroup", ["openid", "email"])
    assert r.status_code == 200, f"scope map: {r}"
    app = await c.oauth2_rs_get("pyapp")
    maps = [(m.group, sorted(m.values)) for m in app.oauth2_rs_scope_map]
    assert maps == [("pygroup@localhost", ["email", "openid"])], f"scope maps: {maps}"
    r = await c.oauth2_rs_update("pyapp", displayname="Py App 2", reset_secret=True)
    assert r.status_code == 200, f"oauth2 update: {r}"
    assert (await c.oauth2_rs_get("pyapp")).displayname == "Py App 2"
    assert await c.oauth2_rs_secret_get("pyapp") != secret, "a new secret"
    assert any(x.name == "pyapp" for x in await c.oauth2_rs_list()), "oauth2 list"
    r = await c.oauth2_rs_delete_scope_map("pyapp", "pygroup")
    assert r.status_code == 200, f"scope map delete: {r}"
    assert not (await c.oauth2_rs_get("pyapp")).oauth2_rs_scope_map, "map removed"
    print("oauth2 ok")

    for r in [await c.oauth2_rs_delete("pyapp"), await c.group_delete("pygroup"),
              await c.person_account_delete("pyperson"), await c.service_account_delete("pyrobot")]:
        assert r.status_code == 200, f"delete: {r}"
    print("deletes ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
