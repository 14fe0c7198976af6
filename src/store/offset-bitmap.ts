/**
 * A set of log offsets as a paged bitmap: 1 bit per offset in the touched range, pages allocated lazily and
 * dropped when their range is no longer needed. Keeps "which messages are settled" compact even for
 * hundreds of millions of offsets.
 */

const PAGE_BITS = 65536;
const PAGE_WORDS = PAGE_BITS / 32;

export class OffsetBitmap {
  private pages = new Map<number, Uint32Array>();
  private count = 0;
  /** The page has() looked up last (recovery checks offsets in order: one map lookup per page, not per bit). */
  private lastPageNo = -1;
  private lastPage: Uint32Array | undefined;

  get size(): number {
    return this.count;
  }

  /** Adds offset; returns false if it was already present. */
  add(offset: number): boolean {
    const pageNo = Math.floor(offset / PAGE_BITS);
    let page = this.pages.get(pageNo);
    if (!page) {
      page = new Uint32Array(PAGE_WORDS);
      this.pages.set(pageNo, page);
      if (pageNo === this.lastPageNo) this.lastPage = page;
    }
    const bit = offset - pageNo * PAGE_BITS;
    const mask = 1 << (bit & 31);
    const w = bit >>> 5;
    if ((page[w] & mask) !== 0) return false;
    page[w] |= mask;
    this.count++;
    return true;
  }

  has(offset: number): boolean {
    const pageNo = Math.floor(offset / PAGE_BITS);
    if (pageNo !== this.lastPageNo) {
      this.lastPageNo = pageNo;
      this.lastPage = this.pages.get(pageNo);
    }
    const page = this.lastPage;
    if (!page) return false;
    const bit = offset - pageNo * PAGE_BITS;
    return (page[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /** Removes every offset in [from, to). */
  deleteRange(from: number, to: number): void {
    if (to <= from) return;
    const firstPage = Math.floor(from / PAGE_BITS);
    const lastPage = Math.floor((to - 1) / PAGE_BITS);
    for (const pageNo of [...this.pages.keys()]) {
      if (pageNo < firstPage || pageNo > lastPage) continue;
      const page = this.pages.get(pageNo)!;
      const pageStart = pageNo * PAGE_BITS;
      if (from <= pageStart && to >= pageStart + PAGE_BITS) {
        this.count -= popcountPage(page);
        this.pages.delete(pageNo);
        if (pageNo === this.lastPageNo) this.lastPage = undefined;
        continue;
      }
      const a = Math.max(from, pageStart) - pageStart;
      const b = Math.min(to, pageStart + PAGE_BITS) - pageStart;
      for (let bit = a; bit < b; bit++) {
        const mask = 1 << (bit & 31);
        if ((page[bit >>> 5] & mask) !== 0) {
          page[bit >>> 5] &= ~mask;
          this.count--;
        }
      }
    }
  }

  clear(): void {
    this.pages.clear();
    this.lastPage = undefined;
    this.count = 0;
  }
}

function popcountPage(page: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < page.length; i++) {
    let v = page[i];
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}
