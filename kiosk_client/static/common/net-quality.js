// How good the call's network is, from RTCPeerConnection.getStats(), as good / fair / poor.
//
// Why a module of its own: the kiosk, the enterprise page and the console show the same
// indicator, and the classifier must be testable with recorded stats objects alone.
// `sampleStats` turns two consecutive getStats() reports into one sample (round-trip
// time, packet loss over the interval, jitter, the sender's available bitrate, received
// frame rate); `classify` grades a sample by its worst figure; `QualityTracker` adds
// hysteresis so the label does not flicker: it drops after DOWN_AFTER samples in a row
// that are worse, and rises only after UP_AFTER samples in a row that are better.

/** Limits per figure: [worst value still "good", worst value still "fair"]. Chosen like
 *  the usual conferencing guidance (ITU-T G.114 for delay; video freezes past ~10 % loss). */
export const LIMITS = {
  rttMs: [300, 600],
  lossPct: [3, 10],
  jitterMs: [30, 100],
};
/** Lower is worse for these: [lowest still "good", lowest still "fair"]. */
export const FLOORS = {
  outgoingKbps: [500, 150], // only while we send video
  fps: [12, 5], // only while the other side sends video
};
export const DOWN_AFTER = 2;
export const UP_AFTER = 3;
const ORDER = { good: 0, fair: 1, poor: 2 };

/**
 * Grade one sample. Figures that are null/undefined are not known yet and do not count.
 * @param {{rttMs?: number|null, lossPct?: number|null, jitterMs?: number|null,
 *          outgoingKbps?: number|null, fps?: number|null}} sample
 * @returns {{level: "good"|"fair"|"poor"|"none", reasons: string[]}} reasons: the figures
 *   that set the level (empty when good)
 */
export function classify(sample) {
  let worst = -1;
  let reasons = [];
  const grade = (name, rank) => {
    if (rank > worst) {
      worst = rank;
      reasons = rank > 0 ? [name] : [];
    } else if (rank === worst && rank > 0) {
      reasons.push(name);
    }
  };
  for (const [name, [good, fair]] of Object.entries(LIMITS)) {
    const value = sample[name];
    if (value == null || Number.isNaN(value)) continue;
    grade(name, value <= good ? 0 : value <= fair ? 1 : 2);
  }
  for (const [name, [good, fair]] of Object.entries(FLOORS)) {
    const value = sample[name];
    if (value == null || Number.isNaN(value)) continue;
    grade(name, value >= good ? 0 : value >= fair ? 1 : 2);
  }
  const level = worst < 0 ? "none" : Object.keys(ORDER)[worst];
  return { level, reasons };
}

/** The stable level shown to people: changes only when samples agree for a while. */
export class QualityTracker {
  constructor({ downAfter = DOWN_AFTER, upAfter = UP_AFTER } = {}) {
    this.downAfter = downAfter;
    this.upAfter = upAfter;
    this.level = "none";
    this.candidate = null;
    this.count = 0;
  }

  /** Feed one classified level; returns the (possibly unchanged) shown level. */
  push(level) {
    if (level === "none") return this.level;
    if (this.level === "none" || level === this.level) {
      if (this.level === "none") this.level = level;
      this.candidate = null;
      this.count = 0;
      return this.level;
    }
    if (level !== this.candidate) {
      this.candidate = level;
      this.count = 0;
    }
    this.count += 1;
    const needed = ORDER[level] > ORDER[this.level] ? this.downAfter : this.upAfter;
    if (this.count >= needed) {
      this.level = level;
      this.candidate = null;
      this.count = 0;
    }
    return this.level;
  }

  reset() {
    this.level = "none";
    this.candidate = null;
    this.count = 0;
  }
}

/** The counters of one getStats() report that samples are computed from. */
export function readReport(report) {
  const now = { at: 0, lost: 0, received: 0, jitter: null, rtt: null, outgoing: null,
    fps: null, framesDecoded: 0, remoteLoss: null, sendingVideo: false, receivingVideo: false };
  let pairId = null;
  const pairs = new Map();
  report.forEach((stat) => {
    if (stat.type === "transport" && stat.selectedCandidatePairId) pairId = stat.selectedCandidatePairId;
    if (stat.type === "candidate-pair") pairs.set(stat.id, stat);
    if (stat.type === "inbound-rtp") {
      now.at = Math.max(now.at, stat.timestamp || 0);
      now.lost += Math.max(0, stat.packetsLost || 0);
      now.received += stat.packetsReceived || 0;
      if (stat.jitter != null) now.jitter = Math.max(now.jitter ?? 0, stat.jitter * 1000);
      if (stat.kind === "video" && (stat.packetsReceived || 0) > 0) {
        now.receivingVideo = true;
        now.framesDecoded = stat.framesDecoded || 0;
        if (stat.framesPerSecond != null) now.fps = stat.framesPerSecond;
      }
    }
    if (stat.type === "outbound-rtp" && stat.kind === "video" && (stat.packetsSent || 0) > 0) now.sendingVideo = true;
    if (stat.type === "remote-inbound-rtp") {
      if (stat.fractionLost != null) now.remoteLoss = Math.max(now.remoteLoss ?? 0, stat.fractionLost * 100);
      if (stat.roundTripTime != null && now.rtt == null) now.rtt = stat.roundTripTime * 1000;
    }
  });
  let pair = pairId ? pairs.get(pairId) : null;
  if (!pair) pair = [...pairs.values()].find((p) => p.nominated && p.state === "succeeded") || null;
  if (pair) {
    if (pair.currentRoundTripTime != null) now.rtt = pair.currentRoundTripTime * 1000;
    if (pair.availableOutgoingBitrate != null) now.outgoing = pair.availableOutgoingBitrate / 1000;
  }
  return now;
}

/**
 * One sample from the counters now and those of the previous poll (or null).
 * Loss is the share of packets lost over the interval, ours in or the peer's reported
 * loss of what we send, whichever is worse; frame rate falls back to decoded frames.
 */
export function sampleFrom(now, previous) {
  let lossPct = now.remoteLoss;
  if (previous) {
    const lost = now.lost - previous.lost;
    const total = lost + (now.received - previous.received);
    if (total > 0 && lost >= 0) lossPct = Math.max(lossPct ?? 0, (100 * lost) / total);
    // Packets flowed before and none came since: the path is down, whatever RTT says.
    if (previous.received > 0 && now.received === previous.received) lossPct = 100;
  }
  let fps = null;
  if (now.receivingVideo) {
    fps = now.fps;
    if (fps == null && previous && now.at > previous.at) {
      fps = ((now.framesDecoded - previous.framesDecoded) * 1000) / (now.at - previous.at);
    }
  }
  return {
    rttMs: now.rtt,
    lossPct,
    jitterMs: now.jitter,
    outgoingKbps: now.sendingVideo ? now.outgoing : null,
    fps,
  };
}

/**
 * Polls a peer connection and reports the shown level.
 * Events: "quality" {level, sample, reasons} after every poll; "change" {level} only
 * when the shown level changed (what screen readers should hear).
 */
export class NetworkQualityMeter extends EventTarget {
  constructor(pc, { intervalMs = 2000 } = {}) {
    super();
    this.pc = pc;
    this.intervalMs = intervalMs;
    this.tracker = new QualityTracker();
    this.previous = null;
    this.sample = null;
    this.timer = setInterval(() => this.poll(), intervalMs);
  }

  get level() {
    return this.tracker.level;
  }

  async poll() {
    if (!this.pc || this.pc.connectionState === "closed") return;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return; // closed under us
    }
    if (!this.pc) return; // stopped while the report was read
    const now = readReport(report);
    this.sample = sampleFrom(now, this.previous);
    this.previous = now;
    let { level, reasons } = classify(this.sample);
    if (["disconnected", "failed"].includes(this.pc.iceConnectionState)) {
      level = "poor";
      reasons = ["disconnected"];
    }
    const before = this.tracker.level;
    const shown = this.tracker.push(level);
    this.dispatchEvent(new CustomEvent("quality", { detail: { level: shown, sample: this.sample, reasons } }));
    if (shown !== before) this.dispatchEvent(new CustomEvent("change", { detail: { level: shown } }));
  }

  stop() {
    clearInterval(this.timer);
    this.pc = null;
  }
}
