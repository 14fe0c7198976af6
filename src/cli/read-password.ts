import type { ReadStream } from 'node:tty';

/** The two entries of a new password at a terminal differ. */
export class PasswordsDiffer extends Error {
  override readonly name = 'PasswordsDiffer';
}

/** Thrown when the person at the terminal presses Ctrl-C at the prompt. */
export class PromptInterrupted extends Error {
  override readonly name = 'PromptInterrupted';
}

const ENTER = new Set(['\r', '\n']);
const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const CTRL_U = '\u0015';
const BACKSPACE = new Set(['\u007f', '\b']);
const ESCAPE = '\u001b';

/**
 * Reads one line from the terminal without echoing it: raw mode turns the terminal's echo off, so the
 * password never appears on screen or in a scrollback or screen recording. Backspace, Ctrl-U (erase line),
 * Ctrl-D (end on an empty line) and Ctrl-C (PromptInterrupted) behave as at a shell prompt. The prompt and
 * the closing newline go to stderr so stdout carries only the result.
 */
export function readHiddenLine(input: ReadStream, prompt: string, maxBytes: number): Promise<string> {
  input.setEncoding('utf8'); // whole characters even when a multi-byte one arrives split
  input.setRawMode(true);
  input.resume();
  // Only now: keys typed after the prompt is shown must find the echo already off.
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    // Keys such as arrows arrive as escape sequences (ESC [ ... final, ESC O x): none of it is password.
    let sequence: 'none' | 'start' | 'csi' | 'ss3' = 'none';
    const finish = (outcome: () => void) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      outcome();
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (sequence !== 'none') {
          if (sequence === 'start') sequence = char === '[' ? 'csi' : char === 'O' ? 'ss3' : 'none';
          else if (sequence === 'ss3' || (char >= '@' && char <= '~')) sequence = 'none';
          continue;
        }
        if (char === ESCAPE) {
          sequence = 'start';
          continue;
        }
        if (ENTER.has(char) || (char === CTRL_D && typed === '')) return finish(() => resolve(typed));
        if (char === CTRL_C) return finish(() => reject(new PromptInterrupted('interrupted')));
        if (BACKSPACE.has(char)) typed = [...typed].slice(0, -1).join('');
        else if (char === CTRL_U) typed = '';
        else if (char >= ' ') typed += char; // other control characters are dropped
        // Longer than allowed: stop reading; the caller reports the length.
        if (Buffer.byteLength(typed) > maxBytes) return finish(() => resolve(typed));
      }
    };
    input.on('data', onData);
  });
}

/** Reads the first line of a non-terminal stdin (a pipe or a file), reading no more than needed. */
export async function readFirstLine(input: NodeJS.ReadableStream, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
    if (chunk.includes(0x0a) || total > maxBytes) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const newline = text.indexOf('\n');
  return (newline >= 0 ? text.slice(0, newline) : text).replace(/\r$/, '');
}

/**
 * A new password. From a terminal: typed twice without echo, as the typist cannot see a typo
 * (PasswordsDiffer when they differ). Otherwise the first line of stdin (a pipe or a file).
 */
export async function readNewPassword(maxBytes: number, label = 'Password'): Promise<string> {
  if (!process.stdin.isTTY) return readFirstLine(process.stdin, maxBytes);
  const terminal = process.stdin as ReadStream;
  const first = await readHiddenLine(terminal, `${label}: `, maxBytes);
  if (first.length === 0 || Buffer.byteLength(first) > maxBytes) return first;
  const again = await readHiddenLine(terminal, `${label} again: `, maxBytes);
  if (again !== first) throw new PasswordsDiffer('the passwords do not match');
  return first;
}
