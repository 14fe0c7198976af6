import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli-process.js';

const EXIT_USAGE = 2;

describe('eventter command-line usage errors', () => {
  it('refuses a flag given in place of a value instead of storing data in "--amqp-port"', async () => {
    for (const args of [
      ['server', '--data-dir', '--amqp-port', '5674'],
      ['server', '--data-dir', '--amqp-port'],
      ['server', '--config', '--data-dir', 'x'],
    ]) {
      const run = await runCli(args, { timeoutMs: 10_000 });
      assert.equal(run.code, EXIT_USAGE, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stdout, '', 'nothing started, nothing logged');
      assert.match(run.stderr, new RegExp(`${args[1]} needs a value, but got the option ${args[2]}`));
    }
  });

  it('exits 2 on an unknown flag, with a short pointer to --help instead of the whole help text', async () => {
    const run = await runCli(['server', '--amqp-prot', '1']);
    assert.equal(run.code, EXIT_USAGE);
    assert.match(run.stderr, /unknown option '--amqp-prot'/);
    assert.match(run.stderr, /eventter <command> --help/);
    assert.ok(run.stderr.split('\n').length < 6, run.stderr);
  });

  it('names the config file and the likely key for a misspelt key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eventter-config-'));
    try {
      const file = join(dir, 'x.json');
      await writeFile(file, JSON.stringify({ limts: { frameMax: 8192 }, amqpPort: 5672 }));
      const run = await runCli(['server', '--config', file]);
      assert.equal(run.code, EXIT_USAGE);
      assert.ok(
        run.stderr.includes(`config file ${file}: unknown key "limts" (did you mean "limits"?)`),
        run.stderr,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
