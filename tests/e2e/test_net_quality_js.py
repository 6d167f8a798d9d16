"""The network indicator's classifier (kiosk_client/static/common/net-quality.js), run in
Chromium on getStats()-shaped reports: which figures make a call fair or poor, loss and
stalls over a polling interval, and the hysteresis that keeps the label from flickering.
A real call showing 'good' and a real outage showing 'poor' are in test_call_devices.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from tests.conftest import LiveServer
from tests.e2e.conftest import NewPage

pytestmark = [pytest.mark.browser]

#: A report as Chromium gives it mid-call (the fields the meter reads), as a function of
#: the figures a test varies; ``at`` is the poll time in ms.
REPORT = """(f) => new Map(Object.entries({
    T1: {id: "T1", type: "transport", selectedCandidatePairId: "CP1"},
    CP1: {id: "CP1", type: "candidate-pair", state: "succeeded", nominated: true,
          currentRoundTripTime: f.rtt / 1000, availableOutgoingBitrate: f.kbps * 1000},
    IA: {id: "IA", type: "inbound-rtp", kind: "audio", timestamp: f.at,
         packetsReceived: f.audioIn, packetsLost: f.audioLost, jitter: f.jitter / 1000},
    IV: {id: "IV", type: "inbound-rtp", kind: "video", timestamp: f.at,
         packetsReceived: f.videoIn, packetsLost: f.videoLost, jitter: 0.004,
         framesDecoded: f.frames, framesPerSecond: f.fps},
    OV: {id: "OV", type: "outbound-rtp", kind: "video", packetsSent: 900},
    RV: {id: "RV", type: "remote-inbound-rtp", kind: "video", fractionLost: f.remoteLoss,
         roundTripTime: f.rtt / 1000},
}))"""


async def run(page: Page, script: str) -> Any:
    return await page.evaluate(f"""async () => {{
        const q = await import("/static/common/net-quality.js");
        const report = {REPORT};
        const base = {{rtt: 40, kbps: 2500, jitter: 8, audioIn: 1000, audioLost: 0,
                       videoIn: 3000, videoLost: 0, frames: 600, fps: 30, remoteLoss: 0,
                       at: 10000}};
        const next = (f) => ({{...f, at: f.at + 2000, audioIn: f.audioIn + 100,
                               videoIn: f.videoIn + 300, frames: f.frames + 60}});
        const grade = (before, after) => {{
            const sample = q.sampleFrom(q.readReport(report(after)), q.readReport(report(before)));
            return {{...q.classify(sample), sample}};
        }};
        {script}
    }}""")


@pytest.fixture
async def page(new_page: NewPage, live_server: LiveServer) -> Page:
    page = await new_page("quality")
    await page.goto(f"{live_server.http}/kiosk?token=demo-kiosk")
    return page


async def test_clean_figures_are_good_and_each_bad_figure_names_itself(page: Page) -> None:
    result = await run(page, """
        const cases = {
            clean: {},
            rtt450: {rtt: 450}, rtt800: {rtt: 800},
            jitter60: {jitter: 60}, jitter150: {jitter: 150},
            slowUplink: {kbps: 300}, starvedUplink: {kbps: 90},
            fps8: {fps: 8}, fps3: {fps: 3},
            peerLoses: {remoteLoss: 0.2},
        };
        const out = {};
        for (const [name, change] of Object.entries(cases)) {
            const first = {...base, ...change};
            const r = grade(first, next(first));
            out[name] = [r.level, r.reasons];
        }
        return out;
    """)
    assert result == {
        "clean": ["good", []],
        "rtt450": ["fair", ["rttMs"]], "rtt800": ["poor", ["rttMs"]],
        "jitter60": ["fair", ["jitterMs"]], "jitter150": ["poor", ["jitterMs"]],
        "slowUplink": ["fair", ["outgoingKbps"]], "starvedUplink": ["poor", ["outgoingKbps"]],
        "fps8": ["fair", ["fps"]], "fps3": ["poor", ["fps"]],
        "peerLoses": ["poor", ["lossPct"]],
    }


async def test_loss_is_counted_over_the_interval_and_a_stall_is_poor(page: Page) -> None:
    result = await run(page, """
        const lossy = (lostAudio, lostVideo) => {
            const after = next(base);
            after.audioIn -= lostAudio; after.audioLost += lostAudio;
            after.videoIn -= lostVideo; after.videoLost += lostVideo;
            return grade(base, after);
        };
        // 400 packets expected in the interval
        const five = lossy(0, 20);
        const fifteen = lossy(20, 40);
        const stalled = grade(base, {...base, at: base.at + 2000});
        // Old losses before the interval do not count: only the difference does.
        const old = grade({...base, videoLost: 900}, {...next(base), videoLost: 900});
        return {five: [five.level, Math.round(five.sample.lossPct)],
                fifteen: [fifteen.level, Math.round(fifteen.sample.lossPct)],
                stalled: [stalled.level, stalled.sample.lossPct],
                old: [old.level, old.sample.lossPct]};
    """)
    assert result == {"five": ["fair", 5], "fifteen": ["poor", 15],
                      "stalled": ["poor", 100], "old": ["good", 0]}


async def test_the_shown_level_drops_after_two_and_rises_after_three_samples(
        page: Page) -> None:
    result = await run(page, """
        const t = new q.QualityTracker();
        const shown = [];
        for (const level of ["none", "good", "poor", "good", "poor", "poor", "good", "good",
                             "fair", "good", "good", "good"]) shown.push(t.push(level));
        return shown;
    """)
    # A single bad sample is a blip; two in a row drop the label; it takes three good
    # samples in a row to climb back (a fair sample in between restarts the count).
    assert result == ["none", "good", "good", "good", "good", "poor", "poor", "poor",
                      "poor", "poor", "poor", "good"]
