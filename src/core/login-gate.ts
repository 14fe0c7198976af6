/**
 * Password checks that cost real CPU (scrypt: tens of milliseconds each, on the libuv thread pool) pass
 * through this gate, so a flood of failed logins cannot take the pool from the disk I/O that shares it,
 * nor from legitimate logins from elsewhere:
 *   - at most `maxConcurrent` checks run at once (below the pool's 4 threads, leaving room for file I/O);
 *   - one check at a time per client address, and addresses take turns (round robin), so one address
 *     sending thousands of logins waits behind itself while another address's login goes next;
 *   - an address with `maxWaitingPerAddress` checks already waiting is refused at once, unchecked.
 * Checks are answered in the order they arrived from each address.
 */

export interface LoginGateOptions {
  maxConcurrent: number;
  maxWaitingPerAddress: number;
}

export const DEFAULT_LOGIN_GATE: LoginGateOptions = { maxConcurrent: 2, maxWaitingPerAddress: 16 };

/** What `run` answers when the address already has too many checks waiting (nothing was checked). */
export const BUSY = 'busy';

interface Job {
  work: () => Promise<boolean>;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

interface AddressQueue {
  jobs: Job[];
  running: boolean;
}

export class LoginGate {
  private readonly byAddress = new Map<string, AddressQueue>();
  /** Addresses with a job waiting and none running, in the order they get their next turn. */
  private readonly turns: string[] = [];
  private running = 0;

  constructor(private readonly options: LoginGateOptions = DEFAULT_LOGIN_GATE) {}

  /** Checks running now (for tests and stats). */
  get active(): number {
    return this.running;
  }

  /** Runs `work` when it is this address's turn; BUSY without running it when the address has too many waiting. */
  run(address: string, work: () => Promise<boolean>): Promise<boolean | typeof BUSY> {
    let queue = this.byAddress.get(address);
    if (queue === undefined) {
      queue = { jobs: [], running: false };
      this.byAddress.set(address, queue);
    }
    if (queue.jobs.length >= this.options.maxWaitingPerAddress) return Promise.resolve(BUSY);
    const result = new Promise<boolean>((resolve, reject) => queue.jobs.push({ work, resolve, reject }));
    if (!queue.running && queue.jobs.length === 1) this.turns.push(address);
    this.pump();
    return result;
  }

  private pump(): void {
    while (this.running < this.options.maxConcurrent && this.turns.length > 0) {
      const address = this.turns.shift()!;
      const queue = this.byAddress.get(address)!;
      const job = queue.jobs.shift()!;
      queue.running = true;
      this.running++;
      let work: Promise<boolean>;
      try {
        work = job.work();
      } catch (err) {
        work = Promise.reject(err);
      }
      work.then(job.resolve, job.reject).finally(() => this.finished(address, queue));
    }
  }

  private finished(address: string, queue: AddressQueue): void {
    this.running--;
    queue.running = false;
    if (queue.jobs.length > 0)
      this.turns.push(address); // to the back: other addresses go first
    else this.byAddress.delete(address);
    this.pump();
  }
}
