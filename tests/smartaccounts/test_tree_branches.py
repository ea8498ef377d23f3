"""A big VA tree's page carries its top two levels; deeper branches load when opened (`?branch=`)."""

import re

import pytest
from django.urls import reverse

from smartaccounts.models import VirtualAccount
from smartaccounts.views.virtual_accounts import FOLD_ABOVE
from tests.factories import grant, make_account, make_user
from tests.smartaccounts.test_queries import count_queries, grow_tree

pytestmark = pytest.mark.django_db

SIZE = FOLD_ABOVE + 50
HTMX = {"HX-Request": "true"}  # what htmx sends with the toggle's request


def names_in(html: str) -> set[str]:
    return set(re.findall(r">(VA \d{4})</a>", html))


def depth(va: VirtualAccount) -> int:
    return va.level


@pytest.fixture
def big_tree():
    account = make_account(domain="big-tree.example.com")
    grow_tree(account, SIZE)
    vas = list(VirtualAccount.objects.filter(smart_account=account, name__startswith="VA "))
    return account, vas


def test_a_big_tree_page_carries_the_top_two_levels_and_says_how_many_there_are(client, big_tree):
    account, vas = big_tree
    client.force_login(account.created_by)
    html = client.get(reverse("virtual_accounts", args=[account.pk])).content.decode()
    shown = names_in(html)
    assert shown == {va.name for va in vas if depth(va) <= 1}
    assert any(depth(va) >= 2 for va in vas)  # the test tree really is deeper than what is shown
    assert f"{SIZE + 1} Virtual Accounts" in html  # the default VA too
    lazy = {va.pk for va in vas if depth(va) == 1 and not va.is_leaf_node()}
    assert {int(pk) for pk in re.findall(r'data-branch="[^"]*\?branch=(\d+)"', html)} == lazy
    assert 'href="?expand=all"' in html
    # Each lazy branch's toggle loads it with htmx into the list after it.
    loaders = {int(pk) for pk in re.findall(r'<button [^>]*hx-get="[^"]*\?branch=(\d+)" hx-target="next ul"', html)}
    assert loaders == lazy


def test_a_branch_is_a_fragment_for_htmx_and_the_page_for_a_plain_request(client, big_tree):
    account, vas = big_tree
    node = next(va for va in vas if depth(va) == 1 and not va.is_leaf_node())
    client.force_login(account.created_by)
    url = reverse("virtual_accounts", args=[account.pk])
    plain = client.get(url, {"branch": node.pk})
    assert plain.status_code == 200 and b'<ul class="tree"' in plain.content and b"<html" in plain.content
    fragment = client.get(url, {"branch": node.pk}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert "HX-Request" in fragment["Vary"]


def test_an_opened_branch_brings_every_row_below_it_with_its_counts(client, big_tree):
    account, vas = big_tree
    member = make_user("member@big-tree.example.com")
    node = next(va for va in vas if depth(va) == 1 and va.get_descendant_count() >= 3)
    deepest = max(node.get_descendants(), key=lambda va: va.level)
    grant(member, "viewer", va=deepest)
    client.force_login(account.created_by)
    response = client.get(reverse("virtual_accounts", args=[account.pk]), {"branch": node.pk}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert names_in(html) == {va.name for va in node.get_descendants()}
    assert not html.startswith('<ul class="tree"')  # list items for the list already in the page
    # The member on the deepest VA is counted there, and in the subtree total of each VA above it.
    row = re.search(rf'data-va="{deepest.pk}">.*?Members <strong>(\d+)</strong> / (\d+)', html)
    assert row.groups() == ("1", "1")
    assert html.count("<ul") == html.count("</ul>")
    assert html.count("<li") == html.count("</li>")


def test_expand_all_brings_the_whole_tree(client, big_tree):
    account, vas = big_tree
    client.force_login(account.created_by)
    html = client.get(reverse("virtual_accounts", args=[account.pk]), {"expand": "all"}).content.decode()
    assert names_in(html) == {va.name for va in vas}
    assert "data-branch" not in html


def test_a_small_tree_is_shown_whole(client):
    account = make_account(domain="small-tree.example.com")
    vas = grow_tree(account, 20)
    client.force_login(account.created_by)
    html = client.get(reverse("virtual_accounts", args=[account.pk])).content.decode()
    assert names_in(html) == {va.name for va in vas}
    assert "data-branch" not in html


def test_a_branch_out_of_reach_is_a_404(client, big_tree, other_account):
    account, vas = big_tree
    client.defaults["HTTP_HX_REQUEST"] = "true"  # the toggle's request
    url = reverse("virtual_accounts", args=[account.pk])
    client.force_login(account.created_by)
    other_va = VirtualAccount.objects.filter(smart_account=other_account).first()
    assert client.get(url, {"branch": other_va.pk}).status_code == 404
    assert client.get(url, {"branch": "x"}).status_code == 404
    assert client.get(url, {"branch": "999999999"}).status_code == 404
    # A VA-scoped Viewer opens branches inside their subtree only.
    region = next(va for va in vas if depth(va) == 0 and va.get_descendant_count() >= 3)
    inside = next(va for va in region.get_children() if not va.is_leaf_node())
    outside = next(va for va in vas if depth(va) == 1 and va.get_root() != region.get_root() and not va.is_leaf_node())
    viewer = grant(make_user("regional@big-tree.example.com"), "viewer", va=region)
    client.force_login(viewer)
    assert client.get(url, {"branch": inside.pk}).status_code == 200
    assert client.get(url, {"branch": outside.pk}).status_code == 404


def test_opening_a_branch_costs_the_same_queries_whatever_its_size(client, big_tree):
    account, vas = big_tree
    client.defaults["HTTP_HX_REQUEST"] = "true"  # the toggle's request
    client.force_login(account.created_by)
    url = reverse("virtual_accounts", args=[account.pk])
    branches = sorted((va for va in vas if not va.is_leaf_node()), key=lambda va: va.get_descendant_count())
    client.get(url, {"branch": branches[0].pk})  # warm per-process caches
    small = count_queries(client, f"{url}?branch={branches[0].pk}")
    big = count_queries(client, f"{url}?branch={branches[-1].pk}")
    assert small == big
