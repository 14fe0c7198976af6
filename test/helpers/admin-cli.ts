import type { AdminCommandIo } from '../../src/cli/admin-command.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export type AdminCommand = (argv: string[], io?: AdminCommandIo) => Promise<number>;

/** Runs a command in-process, capturing its output; `password` answers the password prompt. */
export async function runIn(
  command: AdminCommand,
  argv: string[],
  io: Partial<AdminCommandIo> & { password?: string } = {},
): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '' };
  run.code = await command(argv, {
    env: {},
    readPassword: async () => {
      if (io.password === undefined) throw new Error('unexpected password prompt');
      return io.password;
    },
    ...io,
    stdout: (text) => {
      run.stdout += text;
    },
    stderr: (text) => {
      run.stderr += text;
    },
  });
  return run;
}
