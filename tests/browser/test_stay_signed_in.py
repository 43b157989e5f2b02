"""A local sign-in survives a reload, a bookmark and a new tab, and signing out ends it everywhere."""

import pytest
from app_fixtures import PASSWORD
from test_browser import settle

from lib import auth

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_survives_reload_and_new_tab_until_sign_out(server, page):
    url = server["url"]
    page.goto(f"{url}/equity")
    page.get_by_text("This page is for network leadership").wait_for()
    page.get_by_role("link", name="Go to staff sign-in").click()
    page.get_by_label("User name").fill("cmo")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Gap to the reference group").wait_for()  # back on the page that asked for sign-in
    assert page.url.endswith("/equity")
    settle(page)

    cookie = next(c for c in page.context.cookies() if c["name"] == auth.COOKIE)
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert cookie["value"] not in page.url  # the token never travels in the URL

    page.reload()
    page.get_by_text("Gap to the reference group").wait_for()
    assert page.get_by_text("Signed in as Dr. Rivera").count() == 1

    tab = page.context.new_page()  # a new tab, or a bookmark opened in this browser
    tab.goto(f"{url}/scorecard")
    tab.get_by_text("Drill down").wait_for()
    tab.close()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("Signed in as").wait_for(state="hidden")
    settle(page)
    page.reload()
    page.get_by_text("This page is for network leadership").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == auth.COOKIE and c["value"]]

    # the token itself is dead, not only forgotten by this browser
    thief = page.context.browser.new_context()
    thief.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
    other = thief.new_page()
    other.goto(f"{url}/scorecard")
    other.get_by_text("This page is for network leadership").wait_for()
    thief.close()
