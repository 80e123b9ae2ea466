"""Notifications: the outbox delivery (:mod:`.delivery`) and PRIP subscription matching (:mod:`.subscriptions`)."""
