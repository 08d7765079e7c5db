/**
 * The places of a bulkhead: a limit, the calls in flight, and the waiters queued for a place, in a doubly linked
 * list so that a waiter that gives up (interrupted, timed out, evicted) leaves in O(1).
 *
 * A place freed goes straight to the waiter next in line (`handOver`): it is counted in flight before that
 * waiter's fiber runs again, so no arrival can take it in between, and a waiter that learns it was given a place
 * after it gave up passes the place on (`release`). That is what keeps the count exact under interruption: a
 * place is always either in flight, handed to a waiter that will use it or give it back, or free.
 */
import type { Fiber } from "effect"

/** A call waiting for a place. */
export interface Waiter {
  prev: Waiter | undefined
  next: Waiter | undefined
  /** Whether it is still in the queue. */
  queued: boolean
  /** Whether a place was handed to it (it then holds the place until it releases it). */
  granted: boolean
  /** Why it left the queue without a place, when it was evicted. */
  evicted: boolean
  /** Resumes its fiber (set once the fiber waits). */
  wake: (() => void) | undefined
  readonly fiber: Fiber.Fiber<unknown, unknown>
}

export class Pool {
  inFlight = 0
  queued = 0
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined

  // (all three change in place on a reload: a lower limit or capacity takes nothing from the calls that hold a
  // place or wait for one, it only admits or queues no new one until they are under it; in LIFO order the next
  // arrival evicts the oldest waiters down to the new capacity, as it would have evicted them one by one)
  constructor(public limit: number, public capacity: number, public lifo: boolean) {}

  /**
   * Switches the order: the queue is reversed, so that the waiter served next is still the right one (the oldest
   * in FIFO order, the newest in LIFO order) and a LIFO eviction still takes the oldest.
   */
  reorder(lifo: boolean): void {
    if (lifo === this.lifo) return
    let node = this.head
    while (node !== undefined) {
      const next = node.next
      node.next = node.prev
      node.prev = next
      node = next
    }
    const head = this.head
    this.head = this.tail
    this.tail = head
    this.lifo = lifo
  }

  /** Takes a place at once when one is free and nobody waits for one. */
  tryAcquire(): boolean {
    if (this.inFlight < this.limit && this.head === undefined) {
      this.inFlight++
      return true
    }
    return false
  }

  /**
   * Queues a waiter: at the back (FIFO) or the front (LIFO, served newest first). A full queue refuses a FIFO
   * arrival (`undefined`) and, in LIFO order, evicts its oldest waiters to make room (more than one when a reload
   * lowered the capacity below the waiters; woken, `evicted`, each counts its own refusal). A free place is handed
   * over at once (the waiter may be `granted` on return).
   */
  enqueue(fiber: Fiber.Fiber<unknown, unknown>): Waiter | undefined {
    const evicted: Array<Waiter> = []
    if (this.queued >= this.capacity) {
      if (!this.lifo || this.capacity === 0) return undefined
      while (this.queued >= this.capacity) {
        const oldest = this.tail!
        this.remove(oldest)
        oldest.evicted = true
        evicted.push(oldest)
      }
    }
    const waiter: Waiter = {
      prev: undefined,
      next: undefined,
      queued: true,
      granted: false,
      evicted: false,
      wake: undefined,
      fiber
    }
    if (this.lifo) {
      waiter.next = this.head
      if (this.head !== undefined) this.head.prev = waiter
      else this.tail = waiter
      this.head = waiter
    } else {
      waiter.prev = this.tail
      if (this.tail !== undefined) this.tail.next = waiter
      else this.head = waiter
      this.tail = waiter
    }
    this.queued++
    for (const waiter of evicted) this.resume(waiter)
    // a place freed between the caller's failed `tryAcquire` and now (its fiber may have yielded in between) goes
    // to the queue at once: a waiter never sits beside a free place
    this.handOver()
    return waiter
  }

  /** Takes a waiter out of the queue (it gave up). */
  remove(waiter: Waiter): void {
    if (!waiter.queued) return
    waiter.queued = false
    if (waiter.prev !== undefined) waiter.prev.next = waiter.next
    else this.head = waiter.next
    if (waiter.next !== undefined) waiter.next.prev = waiter.prev
    else this.tail = waiter.prev
    waiter.prev = waiter.next = undefined
    this.queued--
  }

  /** A place is given back: it goes to the next waiter, if the limit allows. */
  release(): void {
    this.inFlight--
    this.handOver()
  }

  /** Hands free places to waiters, in order, while the limit allows (after a release or a larger limit). */
  handOver(): void {
    while (this.inFlight < this.limit && this.head !== undefined) {
      const waiter = this.head
      this.remove(waiter)
      waiter.granted = true
      this.inFlight++
      this.resume(waiter)
    }
  }

  // the waiter's fiber runs on its own scheduler, never inside the fiber that freed the place
  private resume(waiter: Waiter): void {
    const wake = waiter.wake
    if (wake === undefined) return
    waiter.wake = undefined
    waiter.fiber.currentDispatcher.scheduleTask(wake, 0)
  }
}
