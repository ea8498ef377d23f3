"""Browser journeys through the accounts pages (Chromium driven by Playwright)."""

import pytest
from django.core import mail

from smartaccounts.models import Role, SmartAccount, User, VirtualAccount
from smartaccounts.services import role_on_scope
from tests.browser import open_tab
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email, password=PASSWORD):
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def log_out(page, email):
    page.click(f"summary:has-text('{email}')")
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login/")


def test_request_an_account_create_a_child_va_add_a_viewer_who_finds_no_edit_controls(page):
    make_user("cio@globex.example.com")
    make_user("vic.viewer@globex.example.com")
    log_in(page, "cio@globex.example.com")

    # Request a customer account: the kinds are explained, the domain is prefilled.
    page.click("main >> text=Request a Smart Account")
    assert page.locator("text=For a small business that uses a public e-mail provider").is_visible()
    assert page.input_value("input[name=domain]") == "globex.example.com"
    page.fill("input[name=name]", "Globex Corporation")
    page.click("button:has-text('Request the account')")
    page.wait_for_selector("h1:has-text('Globex Corporation')")
    account = SmartAccount.objects.get(domain="globex.example.com")

    # A top-level VA, then a child under it.
    open_tab(page, "Virtual Accounts")
    page.fill("input[name=name]", "Engineering")
    page.click("button:has-text('Create')")
    page.wait_for_selector("text=The Virtual Account Engineering is created.")
    page.fill("input[name=name]", "Lab")
    page.select_option("select[name=parent]", label="Engineering")
    page.click("button:has-text('Create')")
    page.wait_for_selector("text=The Virtual Account Lab is created.")
    lab = page.locator("[data-testid=va-tree] .tree-node .tree-node:has-text('Lab')")
    assert lab.count() == 1  # nested inside Engineering's node
    assert VirtualAccount.objects.get(name="Lab").parent.name == "Engineering"
    # Collapsing Engineering hides Lab.
    page.click('[data-testid=va-tree] button[aria-label*="Engineering"]')
    assert not lab.is_visible()

    # Add the Viewer (an existing login) on the Users page: an invitation, as for anyone.
    open_tab(page, "Users")
    page.fill("input[name=email]", "vic.viewer@globex.example.com")
    page.select_option("select[name=role]", "viewer")
    page.click("button:has-text('Add')")
    page.wait_for_selector("text=We e-mailed vic.viewer@globex.example.com an invitation")
    assert role_on_scope(User.objects.get(email="vic.viewer@globex.example.com"), account, None) is None
    log_out(page, "cio@globex.example.com")

    # The Viewer opens the link, logs in with their login, comes back to the invitation and accepts it.
    body = next(m.body for m in mail.outbox if m.to == ["vic.viewer@globex.example.com"])
    assert "You already have a Smart Accounts login" in body
    link = next(line.strip() for line in body.splitlines() if "/invitations/" in line)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    page.goto(path)
    page.click("text=Log in to accept")
    page.fill("input[name=username]", "vic.viewer@globex.example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    page.click("button:has-text('Accept the invitation')")
    page.wait_for_selector("text=Welcome to Globex Corporation")

    # The Viewer sees the account and its tree, and no edit controls anywhere.
    page.wait_for_selector("h1:has-text('Globex Corporation')")
    assert page.locator("a:has-text('Edit')").count() == 0
    assert page.locator("nav.subnav >> text=Users").count() == 0
    open_tab(page, "Virtual Accounts")
    assert page.locator("[data-testid=va-tree] >> text=Lab").count() == 1
    assert page.locator("text=New Virtual Account").count() == 0
    assert page.locator("form[method=post]").count() == 1  # only the header's log-out form
    page.click("[data-testid=va-tree] >> text=Lab")
    page.wait_for_selector("h1:has-text('Lab')")
    assert page.locator("[data-testid=va-admin]").count() == 0
    for label in ("Rename", "Move", "Delete", "Make it the default", "Add a child"):
        assert page.locator(f"text={label}").count() == 0
    assert role_on_scope(User.objects.get(email="vic.viewer@globex.example.com"), account, None) == Role.VIEWER


def test_an_invitation_link_signs_a_newcomer_up_with_the_invited_role(page):
    make_user("cio@initech.example.org")
    log_in(page, "cio@initech.example.org")
    page.click("main >> text=Request a Smart Account")
    page.fill("input[name=name]", "Initech")
    page.click("button:has-text('Request the account')")
    page.wait_for_selector("h1:has-text('Initech')")
    open_tab(page, "Users")
    page.fill("input[name=email]", "peter@initech.example.org")
    page.select_option("select[name=role]", "user")
    page.click("button:has-text('Add')")
    page.wait_for_selector("text=We e-mailed peter@initech.example.org an invitation")
    log_out(page, "cio@initech.example.org")

    body = next(m.body for m in mail.outbox if m.to == ["peter@initech.example.org"])
    link = next(line.strip() for line in body.splitlines() if "/invitations/" in line)
    page.goto("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert page.locator("text=Initech").first.is_visible()
    page.fill("input[name=first_name]", "Peter")
    page.fill("input[name=last_name]", "Gibbons")
    page.fill("input[name=new_password1]", "tps-reports-cover-sheet")
    page.fill("input[name=new_password2]", "tps-reports-cover-sheet")
    page.click("button:has-text('Create my login and join')")
    page.wait_for_selector("text=Welcome to Initech")
    peter = User.objects.get(email="peter@initech.example.org")
    assert peter.email_verified
    assert role_on_scope(peter, SmartAccount.objects.get(domain="initech.example.org"), None) == Role.USER


def test_a_big_trees_deeper_branch_loads_when_opened(page):
    from smartaccounts.views.virtual_accounts import FOLD_ABOVE
    from tests.factories import make_account
    from tests.smartaccounts.test_queries import grow_tree

    account = make_account(domain="big-tree.example.com")
    grow_tree(account, FOLD_ABOVE + 50)
    node = next(
        va
        for va in VirtualAccount.objects.filter(smart_account=account, level=1).order_by("name")
        if va.get_children().exists()
    )
    child = node.get_children().first()
    log_in(page, account.created_by.email)
    page.goto(f"/accounts/{account.pk}/virtual-accounts/")
    tree = page.locator("[data-testid=va-tree]")
    assert tree.locator(f"a:text-is('{child.name}')").count() == 0  # not in the page yet
    page.click(f'[data-testid=va-tree] li[data-va="{node.pk}"] > .tree-row > button.tree-toggle')
    page.wait_for_selector(f"[data-testid=va-tree] li[data-va='{node.pk}'] a:text-is('{child.name}')")
    assert tree.locator(f"li[data-va='{node.pk}'] a:text-is('{child.name}')").is_visible()
    # Closing and opening it again does not load it twice.
    page.click(f'[data-testid=va-tree] li[data-va="{node.pk}"] > .tree-row > button.tree-toggle')
    page.click(f'[data-testid=va-tree] li[data-va="{node.pk}"] > .tree-row > button.tree-toggle')
    assert tree.locator(f"li[data-va='{node.pk}'] a:text-is('{child.name}')").count() == 1
    # "Expand all" brings the whole tree.
    page.click("a:has-text('Expand all')")
    page.wait_for_url("**expand=all")
    assert tree.locator("a").count() == FOLD_ABOVE + 51
