/**
 * The last `capacity` ids added, oldest forgotten first: how an agent
 * remembers the attempts it has finished with, so a repeated hand-over of one
 * (delivery over HTTP is at least once) does not run it again. Bounded, so a
 * long-lived agent does not grow without end; a repeat arrives within seconds,
 * long before its id could be pushed out.
 */
export class RecentIds {
  private readonly ids = new Set<number>();

  constructor(private readonly capacity: number) {}

  add(id: number): void {
    // Re-adding moves an id to the newest end (a Set iterates in insertion order).
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as number);
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
