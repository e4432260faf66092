"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright, with a CDP
virtual authenticator (a platform passkey that verifies its user). Run by tests/browser.rs.

From a reset link: enrol a passkey, set a password, add an authenticator app (its code
computed here, from the key the page shows), save; sign in with the passkey; sign out; sign in
with the password and a TOTP code. Screenshots of every page go to SHOTS. Every step checks
what the page shows; any failure exits non-zero with the reason.

usage: browser_flow.py URL CA_PEM RESET_LINK NAME PASSWORD SHOTS
env: KANIDM_CHROMIUM (the browser binary)
"""

import base64
import hashlib
import hmac
import os
import struct
import subprocess
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

url, ca, reset_link, name, password, shots = sys.argv[1:7]
os.makedirs(shots, exist_ok=True)


def totp(secret_b32, offset=0):
    """RFC 6238 (SHA-1, 6 digits, 30 s), written here from the RFC, not the server's code."""
    s = secret_b32.replace(" ", "")
    key = base64.b32decode(s + "=" * (-len(s) % 8))
    counter = int(time.time()) // 30 + offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def trusting_home(ca_pem):
    """A HOME whose NSS store trusts the test CA, as Chromium on Linux reads it."""
    home = tempfile.mkdtemp(prefix="browser-home-")
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db)
    subprocess.run(["certutil", "-N", "-d", "sql:" + db, "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", "sql:" + db, "-n", "idm-test-ca", "-t", "C,,", "-i", ca_pem], check=True)
    return home


def check(cond, what, page=None):
    if not cond:
        if page is not None:
            page.screenshot(path=os.path.join(shots, "failure.png"), full_page=True)
            print("PAGE:", page.url, page.content()[:4000], file=sys.stderr)
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)
    print("ok:", what)


n = [0]


def shot(page, label):
    n[0] += 1
    page.screenshot(path=os.path.join(shots, "%02d-%s.png" % (n[0], label)), full_page=True)


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=os.environ.get("KANIDM_CHROMIUM", "/usr/lib/chromium/chromium"),
        headless=True,
        args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run"],
        env={**os.environ, "HOME": trusting_home(ca)},
    )
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    page = ctx.new_page()
    page.set_default_timeout(15000)
    cdp = ctx.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]

    # The reset link: nothing happens until Continue.
    page.goto(reset_link)
    check(page.locator("#token").input_value() != "", "the reset page holds the code from the link", page)
    shot(page, "reset-link")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/ui/credentials")
    check("No password is set." in page.content(), "the editor opens for an account without credentials", page)
    shot(page, "editor-empty")

    # A passkey, through the browser's WebAuthn API.
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_selector("#passkey-enrol")
    page.fill("#label", "laptop")
    shot(page, "passkey-enrol")
    page.get_by_role("button", name="Create the passkey").click()
    page.wait_for_selector("#passkeys-section li")
    check("laptop" in page.locator("#passkeys-section").inner_text(), "the passkey is listed", page)
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    check(len(held) == 1 and held[0]["isResidentCredential"], "the authenticator holds one discoverable passkey")

    # A password, typed and sent with the keyboard.
    page.fill("#password", password)
    page.fill("#password_confirm", password)
    page.press("#password_confirm", "Enter")
    page.wait_for_selector("text=A password is set.")

    # An authenticator app: the QR code, the key, and a code computed from it here.
    page.get_by_role("button", name="Add an authenticator app").click()
    page.wait_for_selector("#totp-enrol svg.qr")
    secret = page.inner_text("#totp-secret")
    shot(page, "totp-enrol")
    page.fill("#code", totp(secret, -1))
    page.fill("#label", "phone")
    page.get_by_role("button", name="Add the app").click()
    page.wait_for_selector("#totp-section li")
    check("phone" in page.locator("#totp-section").inner_text(), "the authenticator app is listed", page)
    shot(page, "editor-ready")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url("**/ui/login?notice=saved")
    check("Your credentials are saved" in page.content(), "saved, and asked to sign in", page)
    shot(page, "saved")

    # Sign in with the passkey.
    page.fill("#username", name)
    page.press("#username", "Enter")
    page.wait_for_selector("button[value=passkey]")
    shot(page, "choose")
    page.click("button[value=passkey]")
    page.wait_for_url("**/ui/profile")
    body = page.inner_text("main")
    check(name in body and "this session" in body and "passkey" in body, "signed in with the passkey", page)
    shot(page, "profile")
    phone = ctx.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(url + "/ui/profile")
    shot(phone, "profile-phone")
    phone.close()

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login?notice=signed-out")
    check("You are signed out." in page.content(), "signed out", page)
    page.goto(url + "/ui/profile")
    page.wait_for_url("**/ui/login")
    check(True, "the profile needs signing in again")

    # Sign in with the password and the authenticator app.
    page.fill("#username", name)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Password and authenticator app").click()
    page.wait_for_selector("#totp")
    shot(page, "totp-step")
    page.fill("#totp", totp(secret))
    page.press("#totp", "Enter")
    page.wait_for_selector("#password")
    shot(page, "password-step")
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_url("**/ui/profile")
    body = page.inner_text("main")
    check("password and authenticator app" in body, "signed in with password and TOTP", page)

    # A wrong password shows the error on the page.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login?notice=signed-out")
    page.fill("#username", name)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Password and authenticator app").click()
    page.fill("#totp", "000000" if totp(secret) != "000000" else "111111")
    page.press("#totp", "Enter")
    page.wait_for_selector("[role=alert]")
    shot(page, "refused")
    browser.close()
print("browser flow complete")
