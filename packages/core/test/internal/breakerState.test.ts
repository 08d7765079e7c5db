import { assert, describe, it } from "@effect/vitest"
import * as State from "../../src/internal/breaker/state.js"

const limits: State.Limits = { halfOpenProbes: 2, closeAfter: 2 }
const at = (mono: number, wall = 1_000_000 + mono): State.Now => ({ mono, wall })

// a state of `status` at generation 3, entered at 100 ms
const state = (
  status: State.BreakerState["status"],
  changes: Partial<State.BreakerState> = {}
): State.BreakerState => ({
  ...State.initial,
  status,
  generation: 3,
  since: 1_000_100,
  sinceMono: 100,
  ...changes
})

const opening = (epoch: number, openings: number, millis: number): State.Opening => ({ epoch, openings, millis })

describe("breaker state", () => {
  it("is plain data: a breaker starts closed at generation 0, and every state survives JSON", () => {
    assert.deepStrictEqual(State.initial, {
      status: "closed",
      generation: 0,
      since: 0,
      sinceMono: 0,
      openings: 0,
      epoch: 0,
      openUntil: 0,
      lastOpenMillis: 0,
      probes: 0,
      probeSuccesses: 0
    })
    const opened = State.open(State.initial, 0, "consecutive_failures", opening(1, 1, 5000), at(10))!.state
    const halfOpen = State.claimProbe(opened, 1, limits, at(5010))!.state
    for (const s of [State.initial, opened, halfOpen]) assert.deepStrictEqual(JSON.parse(JSON.stringify(s)), s)
  })

  describe("open", () => {
    it("opens a closed state for a trip rule's reason, for the opening's duration, in the next generation", () => {
      const change = State.open(state("closed"), 3, "failure_rate", opening(2, 1, 5000), at(1000))
      assert.deepStrictEqual(change, {
        reason: "failure_rate",
        state: {
          status: "open",
          generation: 4,
          since: 1_001_000,
          sinceMono: 1000,
          openings: 1,
          epoch: 2,
          openUntil: 6000,
          lastOpenMillis: 5000,
          probes: 0,
          probeSuccesses: 0
        }
      })
    })

    it("opens a half-open state when its probe failed, dropping its probes", () => {
      const halfOpen = state("half_open", { probes: 2, probeSuccesses: 1, openings: 2, epoch: 1 })
      const change = State.open(halfOpen, 3, "probe_failed", opening(1, 3, 4000), at(1000))!
      assert.strictEqual(change.reason, "probe_failed")
      assert.include(change.state, { status: "open", generation: 4, openings: 3, epoch: 1, openUntil: 5000, probes: 0 })
      assert.strictEqual(change.state.probeSuccesses, 0)
    })

    it("does not apply once the generation moved on, nor from a state it does not leave", () => {
      assert.isUndefined(State.open(state("closed"), 2, "consecutive_failures", opening(1, 1, 10), at(1)))
      assert.isUndefined(State.open(state("half_open"), 3, "consecutive_failures", opening(1, 1, 10), at(1)))
      assert.isUndefined(State.open(state("closed"), 3, "probe_failed", opening(1, 1, 10), at(1)))
      for (const status of ["open", "forced_open", "forced_closed", "disabled"] as const) {
        assert.isUndefined(State.open(state(status), 3, "slow_call_rate", opening(1, 1, 10), at(1)), status)
      }
    })
  })

  describe("nextOpening (the openings rule)", () => {
    it("starts a new run (the next epoch, opening 1) for the first opening", () => {
      assert.deepStrictEqual(State.nextOpening(state("closed", { epoch: 4 }), at(100)), { epoch: 5, openings: 1 })
    })

    it("carries on from a half-open probe, however long ago it began", () => {
      const halfOpen = state("half_open", { epoch: 2, openings: 3, lastOpenMillis: 10 })
      assert.deepStrictEqual(State.nextOpening(halfOpen, at(1_000_000)), { epoch: 2, openings: 4 })
    })

    it("carries on when closed less time ago than last open, and starts again once closed as long", () => {
      const closed = state("closed", { epoch: 2, openings: 3, lastOpenMillis: 4000, sinceMono: 100 })
      assert.deepStrictEqual(State.nextOpening(closed, at(4099)), { epoch: 2, openings: 4 })
      assert.deepStrictEqual(State.nextOpening(closed, at(4100)), { epoch: 3, openings: 1 })
    })

    it("starts a new run after a reset, even right away", () => {
      const afterReset = State.reset(state("open", { epoch: 2, openings: 3, lastOpenMillis: 4000 }), at(200)).state
      assert.deepStrictEqual(State.nextOpening(afterReset, at(201)), { epoch: 4, openings: 1 })
    })
  })

  describe("claimProbe", () => {
    const open = state("open", { openUntil: 5000, openings: 1, epoch: 1, lastOpenMillis: 4900 })

    it("turns an open state whose duration is over into half-open with that one probe", () => {
      assert.isUndefined(State.claimProbe(open, 3, limits, at(4999)))
      const change = State.claimProbe(open, 3, limits, at(5000))!
      assert.strictEqual(change.reason, "open_elapsed")
      assert.include(change.state, { status: "half_open", generation: 4, probes: 1, sinceMono: 5000 })
      assert.strictEqual(change.state.probeSuccesses, 0)
      // the opening is kept: a failed probe carries on from it
      assert.include(change.state, { openings: 1, epoch: 1, lastOpenMillis: 4900 })
    })

    it("counts one more probe in half-open while a slot is free, in the same generation", () => {
      const halfOpen = state("half_open", { probes: 1 })
      const change = State.claimProbe(halfOpen, 3, limits, at(1))!
      assert.isUndefined(change.reason)
      assert.include(change.state, { status: "half_open", generation: 3, probes: 2 })
      assert.isUndefined(State.claimProbe(change.state, 3, limits, at(1)), "both slots taken")
    })

    it("does not apply to another generation, nor to the other states", () => {
      assert.isUndefined(State.claimProbe(open, 2, limits, at(9000)))
      for (const status of ["closed", "forced_open", "forced_closed", "disabled"] as const) {
        assert.isUndefined(State.claimProbe(state(status), 3, limits, at(9000)), status)
      }
    })
  })

  describe("settleProbe", () => {
    const halfOpen = state("half_open", { probes: 2, openings: 2, epoch: 1, lastOpenMillis: 2000 })

    it("gives an ignored probe's slot back, deciding nothing", () => {
      const change = State.settleProbe(halfOpen, 3, false, limits, at(1))!
      assert.isUndefined(change.reason)
      assert.include(change.state, { status: "half_open", generation: 3, probes: 1, probeSuccesses: 0 })
    })

    it("counts successes until closeAfter of them close the breaker, keeping its openings", () => {
      const once = State.settleProbe(halfOpen, 3, true, limits, at(1))!
      assert.isUndefined(once.reason)
      assert.include(once.state, { status: "half_open", probes: 1, probeSuccesses: 1 })
      const closed = State.settleProbe(once.state, 3, true, limits, at(7))!
      assert.strictEqual(closed.reason, "probes_succeeded")
      assert.include(closed.state, {
        status: "closed",
        generation: 4,
        probes: 0,
        probeSuccesses: 0,
        sinceMono: 7,
        openings: 2,
        lastOpenMillis: 2000
      })
      assert.strictEqual(
        State.settleProbe(halfOpen, 3, true, { halfOpenProbes: 2, closeAfter: 1 }, at(1))!.reason,
        "probes_succeeded"
      )
    })

    it("does not apply to another generation (a probe of a half-open period that ended), nor outside half-open", () => {
      assert.isUndefined(State.settleProbe(halfOpen, 2, true, limits, at(1)))
      assert.isUndefined(State.settleProbe(state("closed"), 3, true, limits, at(1)))
      assert.isUndefined(State.settleProbe(state("open"), 3, false, limits, at(1)))
    })
  })

  describe("manual states", () => {
    it("enters each manual state with its reason, from any other state", () => {
      const reasons = { forced_open: "isolated", forced_closed: "forced_closed", disabled: "disabled" } as const
      for (const to of ["forced_open", "forced_closed", "disabled"] as const) {
        for (const from of ["closed", "open", "half_open", "forced_open", "forced_closed", "disabled"] as const) {
          const change = State.force(state(from, { probes: 1 }), to, at(50))
          if (from === to) {
            assert.isUndefined(change, `${from} entered again`)
            continue
          }
          assert.strictEqual(change?.reason, reasons[to])
          assert.include(change!.state, { status: to, generation: 4, sinceMono: 50, probes: 0 })
        }
      }
    })

    it("reset always closes, with openings starting again from a new run", () => {
      for (const from of ["closed", "open", "half_open", "forced_open", "forced_closed", "disabled"] as const) {
        const change = State.reset(state(from, { openings: 3, epoch: 2, lastOpenMillis: 8000 }), at(60))
        assert.strictEqual(change.reason, "reset")
        assert.include(change.state, {
          status: "closed",
          generation: 4,
          openings: 0,
          epoch: 3,
          lastOpenMillis: 0,
          sinceMono: 60
        })
      }
    })
  })

  it("apply runs each command as its transition", () => {
    const closed = state("closed")
    const open = State.open(closed, 3, "consecutive_failures", opening(1, 1, 100), at(0))!.state
    const commands: ReadonlyArray<readonly [State.BreakerState, State.Command, State.Change | undefined]> = [
      [closed, { _tag: "Open", generation: 3, reason: "consecutive_failures", opening: opening(1, 1, 100) }, {
        state: open,
        reason: "consecutive_failures"
      }],
      [open, { _tag: "ClaimProbe", generation: 4 }, State.claimProbe(open, 4, limits, at(0))],
      [state("half_open", { probes: 1 }), { _tag: "SettleProbe", generation: 3, succeeded: false }, {
        state: state("half_open"),
        reason: undefined
      }],
      [closed, { _tag: "Force", status: "disabled" }, State.force(closed, "disabled", at(0))],
      [closed, { _tag: "Reset" }, State.reset(closed, at(0))]
    ]
    for (const [from, command, expected] of commands) {
      assert.deepStrictEqual(State.apply(from, command, limits, at(0)), expected, command._tag)
    }
    assert.isUndefined(State.apply(open, { _tag: "ClaimProbe", generation: 4 }, limits, at(0)), "still open at 0")
  })

  it("a run of openings: a flapping dependency keeps its openings, one that recovers starts again", () => {
    // the durations of a schedule stepped per opening of a run: 1 s, 2 s, 4 s...
    const millis = (n: number) => 1000 * 2 ** (n - 1)
    let s = State.initial
    const openNow = (mono: number) => {
      const next = State.nextOpening(s, at(mono))
      s = State.open(s, s.generation, "consecutive_failures", { ...next, millis: millis(next.openings) }, at(mono))!
        .state
    }
    const probe = (mono: number, succeeded: boolean) => {
      s = State.claimProbe(s, s.generation, { halfOpenProbes: 1, closeAfter: 1 }, at(mono))!.state
      if (succeeded) s = State.settleProbe(s, s.generation, true, { halfOpenProbes: 1, closeAfter: 1 }, at(mono))!.state
      else {
        const next = State.nextOpening(s, at(mono))
        s = State.open(s, s.generation, "probe_failed", { ...next, millis: millis(next.openings) }, at(mono))!.state
      }
    }
    openNow(0) // 1 s
    probe(1000, false) // 2 s
    probe(3000, true) // closed at 3 s, after a 2 s opening
    openNow(4000) // closed for 1 s < 2 s: carries on, 4 s
    assert.deepStrictEqual([s.epoch, s.openings, s.lastOpenMillis, s.openUntil], [1, 3, 4000, 8000])
    probe(8000, true) // closed at 8 s
    openNow(12_000) // closed for 4 s, as long as it was last open: a new run, 1 s
    assert.deepStrictEqual([s.epoch, s.openings, s.lastOpenMillis, s.generation], [2, 1, 1000, 9])
  })
})
