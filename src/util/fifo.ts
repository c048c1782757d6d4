// A queue for the hot paths (requests, namespace creations waiting for a slot, events).
/**
 * A first-in first-out list with O(1) shift: Array#shift moves every element
 * (with 20,000 requests queued it was most of the loop's time, measured).
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number { return this.items.length - this.head; }
  push(x: T): void { this.items.push(x); }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined as T;  // not kept alive
    if (this.head >= 1024 && this.head * 2 >= this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
    return x;
  }
  unshift(x: T): void {
    if (this.head > 0) this.items[--this.head] = x;
    else this.items.unshift(x);
  }
  toArray(): T[] { return this.items.slice(this.head); }
}
