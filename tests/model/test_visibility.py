"""The one product-visibility rule (proseo_odata/model/visibility.py, contract section 8) and
its two users: the web layer's product_visibilities (a Principal) and subscription matching
(the subscription owner's stored User)."""
from __future__ import annotations

import itertools

import pytest

from proseo_odata.model import Product, Role, Subscription, SubscriptionStatus, User, VisibilityClass
from proseo_odata.model.visibility import can_read_visibility, visible_classes
from proseo_odata.storage.errors import NotFoundError

P, R, I = VisibilityClass.PUBLIC, VisibilityClass.RESTRICTED, VisibilityClass.INTERNAL
READER_RESTRICTED, READER_ALL = Role.PRODUCT_READER_RESTRICTED, Role.PRODUCT_READER_ALL


@pytest.mark.parametrize("roles, expected", [
    (set(), (P,)),
    ({Role.PRIP_USER}, (P,)),
    ({Role.ORDER_MGR, Role.ODIP_USER}, (P,)),
    ({READER_RESTRICTED}, (P, R)),
    ({READER_ALL}, (P, R, I)),
    ({READER_RESTRICTED, READER_ALL}, (P, R, I)),
    ({"PRODUCT_READER_ALL"}, (P, R, I)),  # role names as stored
    ({"NO_SUCH_ROLE", "PRODUCT_READER_RESTRICTED"}, (P, R)),  # an unknown name grants nothing
])
def test_visible_classes(roles, expected):
    assert visible_classes(roles) == expected
    for visibility in VisibilityClass:
        assert can_read_visibility(roles, visibility) == (visibility in expected)
        assert can_read_visibility(roles, visibility.value) == (visibility in expected)


ROLE_SETS = [frozenset(c) for n in range(len(Role) + 1) for c in itertools.combinations(Role, n)]


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda roles: "+".join(sorted(roles)) or "none")
def test_web_and_subscription_matching_apply_the_same_rule(roles):
    from proseo_odata.notify.subscriptions import _owner_may_see
    from proseo_odata_web.auth import Principal, product_visibilities

    assert product_visibilities(Principal("DEMO", "u", roles, "basic")) == visible_classes(roles)

    class Users:
        def get_user(self, mission, name):
            if name != "u":
                raise NotFoundError("no such user")
            return User(mission, name, "hash", roles)

    subscription = Subscription(mission="DEMO", owner="u", filter_param="true",
                                notification_endpoint="https://x.example/n", status=SubscriptionStatus.RUNNING)
    for visibility in VisibilityClass:
        product = Product(mission="DEMO", name=f"p-{visibility}", visibility=visibility)
        expected = Role.PRIP_USER in roles and visibility in visible_classes(roles)
        assert _owner_may_see(Users(), subscription, product, {}) == expected
