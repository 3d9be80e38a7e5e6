//! AIMD rate control (draft-ietf-rmcat-gcc-02 §5.5, with libwebrtc's additive increase near
//! the link capacity).

use super::Usage;

/// draft-ietf-rmcat-gcc-02 §5.5: beta, the decrease factor applied to the received rate.
pub(crate) const BETA: f64 = 0.85;
/// Multiplicative increase: at most 8% per second.
const ETA_PER_SECOND: f64 = 1.08;
/// The smallest additive increase, in bits per second per second.
const MIN_ADDITIVE_BPS_PER_S: f64 = 4_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Hold,
    Increase,
    Decrease,
}

/// The link capacity seen at overuse: a mean and a normalised variance, so the increase turns
/// additive close to where the link congested last time.
#[derive(Debug, Clone, Copy, Default)]
struct LinkCapacity {
    estimate: Option<f64>,
    deviation: f64,
}

impl LinkCapacity {
    // libwebrtc keeps these in kbit/s; the normalised variance and the 3-sigma band depend on
    // the unit, so they are computed in kbit/s here too.
    fn on_overuse(&mut self, acked_bps: f64) {
        const ALPHA: f64 = 0.05;
        let acked = acked_bps / 1000.0;
        let est = match self.estimate {
            None => acked,
            Some(e) => (1.0 - ALPHA) * e / 1000.0 + ALPHA * acked,
        };
        let norm = est.max(1.0);
        let err = est - acked;
        self.deviation =
            ((1.0 - ALPHA) * self.deviation + ALPHA * err * err / norm).clamp(0.4, 2.5);
        self.estimate = Some(est * 1000.0);
    }

    fn spread(&self, est_bps: f64) -> f64 {
        3.0 * (self.deviation * est_bps / 1000.0).sqrt() * 1000.0
    }

    fn upper(&self) -> Option<f64> {
        self.estimate.map(|e| e + self.spread(e))
    }

    fn lower(&self) -> Option<f64> {
        self.estimate.map(|e| e - self.spread(e))
    }
}

/// Backoffs in a row that left the queue standing before a flow counts as beside a loss-based
/// one.
const COMPETING_AFTER: u8 = 3;
/// The evidence saturates here, so that many drained epochs in a row are needed to leave.
const COMPETING_MAX: u8 = 6;

/// Tells a queue this flow built from one a loss-based flow holds (RFC 8867 §5.6).
///
/// After a backoff of its own, a delay-based flow alone (or beside other delay-based flows)
/// sees the queue drain (underuse) before it next overuses. Beside a loss-based flow (TCP,
/// SCTP) it does not: that flow grows its window into the queue whatever this one does, and
/// the queue drains only when that flow halves on loss, once per sawtooth. Answering every
/// threshold crossing there backs the media off several times per sawtooth while the
/// loss-based flow backs off once, and starves it. So once several overuse onsets in a row
/// found the queue standing, once packets were lost to a full queue (a loss-based flow fills
/// the buffer until it drops; a queue that stands without loss is this flow's own),
/// only the first onset of each epoch is answered (an epoch ends when the queue drains), as
/// TCP answers one loss per window. A flow whose own backoffs drain the queue again leaves
/// that mode after a few epochs (a drain after onsets it let pass is the other flow halving,
/// and counts for nothing).
#[derive(Debug, Clone, Copy)]
struct Competition {
    /// The queue drained (underuse) since the last backoff.
    drained: bool,
    /// The overuse episode under way has been weighed; the next one is a new onset.
    ended: bool,
    /// Onsets on a standing queue count up, onsets on a drained one down.
    evidence: u8,
    /// The current onset may be answered.
    answer: bool,
    /// Packets were lost since the evidence was last nil.
    lost: bool,
    /// An onset since the last answered one was let pass.
    deferred: bool,
}

impl Default for Competition {
    fn default() -> Self {
        Self {
            drained: true,
            ended: true,
            evidence: 0,
            answer: true,
            lost: false,
            deferred: false,
        }
    }
}

impl Competition {
    fn competing(&self) -> bool {
        self.evidence >= COMPETING_AFTER
    }

    /// An overuse is signalled: weigh a new onset once, and say whether it may be answered.
    fn on_overuse(&mut self) -> bool {
        if self.ended {
            self.ended = false;
            if self.drained {
                // A drain after onsets this flow let pass is the other flow halving, not this
                // flow's backoff working: it says nothing either way.
                if self.evidence > 0 && !self.deferred {
                    self.evidence -= 1;
                    // Alone again: the next standing queue needs a loss of its own to count.
                    if self.evidence == 0 {
                        self.lost = false;
                    }
                }
            } else if self.lost {
                self.evidence = (self.evidence + 1).min(COMPETING_MAX);
            }
            self.answer = self.drained || !self.competing();
            self.deferred = !self.answer;
        }
        self.answer
    }

    fn on_usage(&mut self, usage: Usage) {
        match usage {
            Usage::Overusing => {
                self.drained = false;
                self.ended = false;
            }
            Usage::Underusing => {
                self.drained = true;
                self.ended = true;
            }
            Usage::Normal => self.ended = true,
        }
    }
}

/// The delay-based rate: increase while the queue is steady, decrease to beta times the
/// received rate on overuse, hold while it drains.
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    pub(crate) state: State,
    rate: f64,
    min: f64,
    max: f64,
    link: LinkCapacity,
    last_change_us: Option<i64>,
    rtt_us: i64,
    competition: Competition,
}

impl Aimd {
    pub(crate) fn new(start: u64, min: u64, max: u64) -> Self {
        Self {
            state: State::Hold,
            rate: start as f64,
            min: min as f64,
            max: max as f64,
            link: LinkCapacity::default(),
            last_change_us: None,
            rtt_us: 200_000,
            competition: Competition::default(),
        }
    }

    pub(crate) fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Whether this flow shares its queue with a loss-based flow ([`Competition`]).
    pub(crate) fn competing(&self) -> bool {
        self.competition.competing()
    }

    pub(crate) fn set_limits(&mut self, min: u64, max: u64) {
        self.min = min as f64;
        self.max = max as f64;
        self.rate = self.rate.clamp(self.min, self.max);
    }

    pub(crate) fn set_rtt(&mut self, rtt_us: i64) {
        self.rtt_us = rtt_us.max(1_000);
    }

    /// A probe measured `bps`: jump there.
    pub(crate) fn set_estimate(&mut self, bps: u64, now_us: i64) {
        self.rate = (bps as f64).clamp(self.min, self.max);
        self.last_change_us = Some(now_us);
    }

    /// Whether another decrease is due: at most one per round trip (clamped to 10..200 ms), so
    /// one queue build-up is not answered twice, unless the rate is far above what arrives.
    /// Beside a loss-based flow ([`Competition`]), only the first overuse of each epoch is, and
    /// a rate far above what arrives always is.
    pub(crate) fn time_to_reduce(&mut self, now_us: i64, acked: Option<u64>) -> bool {
        let far_above = acked.is_some_and(|a| self.rate > 2.0 * a as f64);
        let ans = self.competition.on_overuse();
        if !ans {
            return far_above;
        }
        let interval = self.rtt_us.clamp(10_000, 200_000);
        match self.last_change_us {
            None => true,
            Some(t) if now_us - t >= interval => true,
            _ => far_above,
        }
    }

    /// Feedback reported packets lost.
    pub(crate) fn on_loss(&mut self) {
        self.competition.lost = true;
    }

    /// One control step. `acked` is the acknowledged bitrate, when known.
    pub(crate) fn update(&mut self, usage: Usage, acked: Option<u64>, now_us: i64) -> u64 {
        self.competition.on_usage(usage);
        // draft-ietf-rmcat-gcc-02 §5.5 state machine: overuse always decreases; underuse holds
        // (the queue drains); normal increases from hold.
        self.state = match (usage, self.state) {
            (Usage::Overusing, _) => State::Decrease,
            (Usage::Underusing, _) => State::Hold,
            (Usage::Normal, State::Hold) => State::Increase,
            (Usage::Normal, s) => s,
        };
        let last = self.last_change_us.unwrap_or(now_us);
        let acked_f = acked.map(|a| a as f64);
        match self.state {
            State::Hold => {
                self.last_change_us = Some(now_us);
            }
            State::Increase => {
                if let (Some(a), Some(up)) = (acked_f, self.link.upper())
                    && a > up
                {
                    // Far above where the link congested before: that capacity is gone stale.
                    self.link = LinkCapacity::default();
                }
                let dt_s = ((now_us - last) as f64 / 1e6).clamp(0.0, 1.0);
                // Beside a loss-based flow the rate at the last overuse was this flow's share of
                // a queue that flow keeps full, not the link's capacity: creeping up a packet per
                // response time from there cedes the link to the flow that grows its window.
                let near_capacity = self.link.estimate.is_some() && !self.competition.competing();
                let increase = if near_capacity {
                    self.additive(dt_s)
                } else {
                    // §5.5: A_hat = eta^dt * A_hat, eta = 1.08 per second.
                    (self.rate * (ETA_PER_SECOND.powf(dt_s) - 1.0)).max(1000.0 * dt_s.min(1.0))
                };
                let limit = acked_f.map_or(f64::MAX, increase_limit);
                if self.rate < limit {
                    self.rate = (self.rate + increase).min(limit);
                }
                self.last_change_us = Some(now_us);
            }
            State::Decrease => {
                if let Some(a) = acked_f {
                    if self.link.lower().is_some_and(|low| a < low) {
                        self.link = LinkCapacity::default();
                    }
                    // §5.5: A_hat = beta * R_hat.
                    let mut decreased = BETA * a;
                    if decreased > self.rate
                        && let Some(est) = self.link.estimate
                    {
                        decreased = BETA * est;
                    }
                    if decreased < self.rate {
                        self.rate = decreased;
                    }
                    self.link.on_overuse(a);
                } else {
                    self.rate *= BETA;
                }
                self.state = State::Hold;
                self.last_change_us = Some(now_us);
            }
        }
        self.rate = self.rate.clamp(self.min, self.max);
        self.rate()
    }

    /// Whether the rate is at (or within 5% of) the cap that what the receiver acknowledged
    /// puts on increases: it grows no further until the sender sends more, so feedback says
    /// nothing about the path above it (the sender is application-limited).
    pub(crate) fn held_by_acked(&self, acked: Option<u64>) -> bool {
        acked.is_some_and(|a| self.rate >= 0.95 * increase_limit(a as f64))
    }

    /// Near the known capacity: about one packet per response time (an RTT plus 100 ms).
    fn additive(&self, dt_s: f64) -> f64 {
        let response_s = (self.rtt_us as f64 / 1e6) + 0.1;
        let bits_per_frame = self.rate / 30.0;
        let packets_per_frame = (bits_per_frame / (1200.0 * 8.0)).ceil().max(1.0);
        let packet_bits = bits_per_frame / packets_per_frame;
        (packet_bits / response_s).max(MIN_ADDITIVE_BPS_PER_S) * dt_s
    }
}

/// §5.5: the rate must not exceed 1.5 times the received rate (plus a margin), so an
/// application-limited sender does not inflate a rate it never tested.
fn increase_limit(acked_bps: f64) -> f64 {
    1.5 * acked_bps + 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimd_increases_eight_percent_per_second_far_from_capacity() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        a.update(Usage::Normal, Some(1_000_000), 0);
        let r = a.update(Usage::Normal, Some(1_000_000), 1_000_000);
        assert!((r as f64 - 1_080_000.0).abs() < 1000.0, "{r}");
    }

    #[test]
    fn aimd_decreases_to_085_of_the_acked_rate_on_overuse() {
        let mut a = Aimd::new(2_000_000, 10_000, 10_000_000);
        let r = a.update(Usage::Overusing, Some(1_000_000), 0);
        assert_eq!(r, 850_000);
        assert_eq!(a.state, State::Hold);
    }

    #[test]
    fn aimd_goes_additive_near_the_last_overuse() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        a.set_rtt(100_000);
        a.update(Usage::Overusing, Some(1_000_000), 0);
        let before = a.rate();
        a.update(Usage::Normal, Some(850_000), 100_000);
        let after = a.update(Usage::Normal, Some(850_000), 1_100_000);
        let step = after - before;
        // 850 kbit/s at 30 fps: 28.3 kbit frames of 3 packets, 9.4 kbit each, per 0.2 s.
        assert!((40_000..55_000).contains(&step), "{step}");
    }

    #[test]
    fn aimd_never_exceeds_one_and_a_half_times_the_acked_rate() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        for i in 0..50 {
            a.update(Usage::Normal, Some(200_000), i * 1_000_000);
        }
        assert!(a.rate() <= 1_000_000, "no increase above 1.5x acked");
        let mut a = Aimd::new(250_000, 10_000, 10_000_000);
        for i in 0..50 {
            a.update(Usage::Normal, Some(200_000), i * 1_000_000);
        }
        assert_eq!(a.rate(), 310_000);
        assert!(a.held_by_acked(Some(200_000)));
        assert!(!a.held_by_acked(Some(300_000)));
    }

    #[test]
    fn aimd_holds_while_underusing() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        a.update(Usage::Underusing, Some(1_000_000), 0);
        assert_eq!(
            a.update(Usage::Underusing, Some(1_000_000), 500_000),
            1_000_000
        );
    }

    /// One overuse episode as the controller drives it: an onset, a backoff if due, then a
    /// second in which the queue either drains (underuse) or stands (normal usage), with or
    /// without packets lost.
    fn episode(a: &mut Aimd, t: &mut i64, drains: bool, lost: bool) -> bool {
        *t += 300_000;
        let acked = Some(a.rate());
        let answered = a.time_to_reduce(*t, acked);
        if answered {
            a.update(Usage::Overusing, acked, *t);
        }
        if lost {
            a.on_loss();
        }
        let after = if drains {
            Usage::Underusing
        } else {
            Usage::Normal
        };
        for _ in 0..10 {
            *t += 100_000;
            a.update(after, Some(a.rate()), *t);
        }
        answered
    }

    #[test]
    fn a_flow_whose_backoffs_drain_the_queue_answers_every_overuse() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        let mut t = 0;
        for _ in 0..20 {
            assert!(episode(&mut a, &mut t, true, false));
        }
        assert!(!a.competition.competing());
    }

    #[test]
    fn a_queue_that_stands_without_loss_is_this_flows_own() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        let mut t = 0;
        for _ in 0..20 {
            assert!(episode(&mut a, &mut t, false, false));
        }
        assert!(!a.competition.competing());
    }

    #[test]
    fn onsets_on_a_standing_queue_are_answered_once_per_epoch() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        let mut t = 0;
        // The first onset, then more on a queue that did not drain: answered until there is
        // enough evidence of a loss-based flow beside this one.
        for _ in 0..COMPETING_AFTER {
            assert!(episode(&mut a, &mut t, false, true));
        }
        // From then on onsets while the queue stands are not answered...
        for _ in 0..5 {
            assert!(!episode(&mut a, &mut t, false, true));
        }
        assert!(a.competition.competing());
        // ...until it drains (the other flow halved): the next onset is, once.
        assert!(!episode(&mut a, &mut t, true, false));
        assert!(episode(&mut a, &mut t, false, true));
        assert!(!episode(&mut a, &mut t, false, true));
        assert!(a.competition.competing());
    }

    #[test]
    fn a_rate_far_above_what_arrives_is_cut_even_beside_a_loss_based_flow() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        let mut t = 0;
        for _ in 0..=COMPETING_AFTER {
            episode(&mut a, &mut t, false, true);
        }
        assert!(a.competition.competing());
        assert!(a.time_to_reduce(t + 300_000, Some(a.rate() / 3)));
    }

    #[test]
    fn the_flow_leaves_competing_mode_once_its_backoffs_drain_the_queue_again() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        let mut t = 0;
        for _ in 0..20 {
            episode(&mut a, &mut t, false, true);
        }
        assert!(a.competition.competing());
        // The loss-based flow left: every answered backoff now drains the queue.
        let mut epochs = 0;
        while a.competition.competing() {
            episode(&mut a, &mut t, true, false);
            epochs += 1;
            assert!(epochs < 20);
        }
        // The first of them still began on the standing queue, and the drain after it followed
        // onsets let pass, so it counts for nothing.
        assert_eq!(epochs, usize::from(COMPETING_MAX - COMPETING_AFTER) + 3);
    }

    #[test]
    fn beside_a_loss_based_flow_the_increase_stays_multiplicative() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        a.set_rtt(300_000);
        let mut t = 0;
        for _ in 0..=COMPETING_AFTER {
            episode(&mut a, &mut t, false, true);
        }
        assert!(a.competition.competing());
        let before = a.update(Usage::Normal, Some(a.rate()), t);
        let after = a.update(Usage::Normal, Some(before), t + 1_000_000);
        let factor = after as f64 / before as f64;
        assert!((factor - ETA_PER_SECOND).abs() < 0.002, "{factor}");
    }

    #[test]
    fn aimd_reduces_at_most_once_per_rtt() {
        let mut a = Aimd::new(1_000_000, 10_000, 10_000_000);
        a.set_rtt(100_000);
        a.update(Usage::Overusing, Some(1_000_000), 0);
        assert!(!a.time_to_reduce(50_000, Some(900_000)));
        assert!(a.time_to_reduce(100_000, Some(900_000)));
    }
}
