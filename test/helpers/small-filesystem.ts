import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small tmpfs in a private mount namespace, so a test can fill a real file system without touching the
 * host's. A sleeping process holds the namespace (and with it the tmpfs) for the test's lifetime, so the
 * file system outlives the brokers started in it and a restart finds the same data. The test process reaches
 * the files through /proc/<holder>/root, which resolves paths in the holder's mount namespace.
 */
export class SmallFilesystem {
  private constructor(
    /** The mount point, as processes inside the namespace see it. */
    readonly dir: string,
    private readonly holder: ChildProcess,
  ) {}

  /**
   * Mounts a tmpfs of sizeBytes in a new mount namespace. Resolves with a reason string instead when this
   * machine cannot (not root, no unshare, mounting refused).
   */
  static async create(sizeBytes: number): Promise<SmallFilesystem | string> {
    if (process.platform !== 'linux') return 'needs Linux mount namespaces';
    if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs in a private mount namespace';
    const dir = await mkdtemp(join(tmpdir(), 'eventter-small-fs-'));
    const script = `mount -t tmpfs -o size=${sizeBytes} tmpfs '${dir}' && echo mounted && exec sleep 600`;
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const reason = await new Promise<string | null>((resolve) => {
      let output = '';
      holder.stdout?.setEncoding('utf8');
      holder.stderr?.setEncoding('utf8');
      holder.stdout?.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('mounted\n')) resolve(null);
      });
      holder.stderr?.on('data', (chunk: string) => {
        output += chunk;
      });
      holder.once('error', (err) => resolve(`cannot run unshare: ${err.message}`));
      holder.once('exit', (code) => resolve(`unshare/mount failed (exit ${code}): ${output.trim()}`));
    });
    if (reason !== null) {
      holder.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      return reason;
    }
    return new SmallFilesystem(dir, holder);
  }

  /** Runs a command inside the namespace: it must exec its program so signals reach it. */
  get commandPrefix(): string[] {
    return ['nsenter', `--target=${this.holder.pid}`, '--mount', '--'];
  }

  /** The path the test process uses for a path inside the file system. */
  hostPath(relative: string): string {
    return join(`/proc/${this.holder.pid}/root`, this.dir, relative);
  }

  /** Writes a filler file until the file system is full, then gives back `leaveBytes`. */
  async fill(leaveBytes = 0): Promise<void> {
    const filler = this.hostPath('filler');
    const file = await open(filler, 'a');
    const chunk = Buffer.alloc(64 * 1024);
    try {
      for (;;) await file.write(chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await file.close();
    }
    if (leaveBytes > 0) {
      const { size } = await stat(filler);
      await truncate(filler, Math.max(0, size - leaveBytes));
    }
  }

  async free(): Promise<void> {
    await rm(this.hostPath('filler'), { force: true });
  }

  /** Ends the holder: the namespace and its tmpfs go with the last process in it. */
  async dispose(): Promise<void> {
    if (this.holder.exitCode === null && this.holder.signalCode === null) {
      const exited = new Promise((resolve) => this.holder.once('exit', resolve));
      this.holder.kill('SIGKILL');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
