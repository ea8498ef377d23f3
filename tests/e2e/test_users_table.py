"""The Users table's header runs over every column, the actions too, at desktop and phone widths."""

import pytest

from tests.factories import PASSWORD
from tests.isolation import build_tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EDGES = """() => {
  const table = document.querySelector("[data-testid=members]");
  const ths = table.querySelectorAll("thead th"), tds = table.querySelectorAll("tbody tr:first-child td");
  const last = (list) => list[list.length - 1].getBoundingClientRect();
  return {th: ths.length, td: tds.length, thRight: last(ths).right, tdRight: last(tds).right,
          thWidth: last(ths).width, label: ths[ths.length - 1].textContent.trim(),
          labelWidth: (() => { const r = document.createRange(); r.selectNodeContents(ths[ths.length - 1]);
                               return r.getBoundingClientRect().width; })()};
}"""


@pytest.mark.parametrize("width", [1366, 390])
def test_the_users_table_header_covers_the_actions_column(page, width):
    tenant = build_tenant()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/login/")
    page.fill("input[name=username]", tenant.admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.goto(f"/accounts/{tenant.account.pk}/users/")
    edges = page.evaluate(EDGES)
    assert edges["th"] == edges["td"] == 3
    assert abs(edges["thRight"] - edges["tdRight"]) < 1 and edges["thWidth"] > 20, edges
    assert edges["label"] == "Actions" and edges["labelWidth"] > 20, edges  # a label people can read
