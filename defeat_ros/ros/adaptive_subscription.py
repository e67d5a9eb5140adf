"""
A subscription that follows its publishers' QoS, including publishers that start later.

``BEST_AVAILABLE`` (the node's ``input_qos`` default) subscribes reliably when every publisher
present at creation is reliable: a reliable camera then gets its large images retransmitted
instead of losing whole frames to one dropped UDP fragment. But rclpy resolves it once, at
creation, and with no publisher yet it asks for the strictest policies (reliable, transient
local, manual liveliness), which no ordinary camera offers: a camera that starts after the
node would deliver nothing. So :class:`AdaptiveSubscription` starts reliable and volatile
when no publisher is there yet (what any reliable camera matches). When a publisher turns out
incompatible (the requested-incompatible-QoS event: a best-effort camera), the next
:meth:`check` subscribes again with the ``BEST_AVAILABLE`` profile, now resolved against the
publishers present; if that is still incompatible (publishers that disagree), it falls back
to best effort and volatile, which matches any publisher. Explicit profiles
(``SENSOR_DATA``, ``DEFAULT``, ...) are taken as meant and never changed.
"""

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy


class AdaptiveSubscription:
    """A subscription of ``node`` that falls back to best effort for incompatible publishers."""

    def __init__(self, node, msg_type, topic, callback, qos):
        """
        Subscribe ``callback`` to ``topic`` with ``qos`` (an rclpy QoSProfile).

        Only a profile with a ``BEST_AVAILABLE`` reliability or durability adapts.
        """
        self._node, self._args = node, (msg_type, topic, callback)
        self._adapts = (qos.reliability == ReliabilityPolicy.BEST_AVAILABLE
                        or qos.durability == DurabilityPolicy.BEST_AVAILABLE)
        self._incompatible = False
        self._resolved_again = False
        self.qos = qos
        alone = self._adapts and node.count_publishers(node.resolve_topic_name(topic)) == 0
        self.subscription = self._subscribe(reliable_volatile(qos) if alone else qos)

    def _subscribe(self, qos):
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible)
        return self._node.create_subscription(*self._args, qos, event_callbacks=events)

    def _on_incompatible(self, event):
        """Remember that a publisher could not be matched (called by the executor)."""
        self._incompatible = True

    def check(self):
        """
        Subscribe again if an incompatible publisher was seen (see the module docstring).

        Call it periodically from the node's executor (not from the subscription's callback).

        :return: a message saying what changed, or '' when nothing did.
        """
        if not (self._adapts and self._incompatible):
            return ''
        self._incompatible = False
        self._node.destroy_subscription(self.subscription)
        if self._resolved_again:
            self.qos = with_reliability(self.qos, ReliabilityPolicy.BEST_EFFORT)
            self._adapts = False
        self._resolved_again = True
        self.subscription = self._subscribe(self.qos)
        how = ('best effort, volatile' if not self._adapts
               else 'with the QoS of the publishers now present')
        return (f'{self.subscription.topic_name}: a publisher with incompatible QoS appeared; '
                f'subscribed again {how}')

    def destroy(self):
        """Destroy the subscription."""
        self._node.destroy_subscription(self.subscription)


def with_reliability(qos, reliability):
    """Return ``qos``'s history and depth with ``reliability``, volatile, automatic liveliness."""
    return QoSProfile(history=qos.history, depth=qos.depth, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def reliable_volatile(qos):
    """Return the profile to start with while no publisher is there: reliable cameras match."""
    return with_reliability(qos, ReliabilityPolicy.RELIABLE)
