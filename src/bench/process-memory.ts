/** Resident memory of a local process from /proc/<pid>/status (Linux): current (VmRSS) and peak (VmHWM). */
import { readFile } from 'node:fs/promises';

export interface ProcessMemory {
  rssBytes: number;
  peakRssBytes: number;
}

function field(status: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** undefined when the process is not visible here (not Linux, other machine, gone). */
export async function readProcessMemory(pid: number): Promise<ProcessMemory | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const rssBytes = field(status, 'VmRSS');
  const peakRssBytes = field(status, 'VmHWM');
  if (rssBytes === undefined || peakRssBytes === undefined) return undefined;
  return { rssBytes, peakRssBytes };
}
