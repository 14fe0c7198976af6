/** Bounds on what administrators may store about users; errors carry a kind adapters map to their codes. */

export const MAX_USER_NAME_LENGTH = 255;
/** Longer passwords are refused when set and at login, unhashed (the config file has the same bound). */
export const MAX_PASSWORD_LENGTH = 1024;
export const MAX_TAGS = 32;
export const MAX_TAG_LENGTH = 64;

export type UserAdminErrorKind = 'bad_request' | 'not_found' | 'read_only';

export class UserAdminError extends Error {
  override name = 'UserAdminError';
  constructor(
    message: string,
    readonly kind: UserAdminErrorKind = 'bad_request',
  ) {
    super(message);
  }
}

export function validateUserName(name: string): void {
  if (typeof name !== 'string' || name.length === 0)
    throw new UserAdminError('a user name must not be empty');
  if (name.length > MAX_USER_NAME_LENGTH)
    throw new UserAdminError(`a user name must be at most ${MAX_USER_NAME_LENGTH} characters`);
  if (hasControlCharacter(name)) throw new UserAdminError('a user name must not contain control characters');
}

export function validatePassword(password: string): void {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH)
    throw new UserAdminError(`a password must be at most ${MAX_PASSWORD_LENGTH} characters`);
}

/** RabbitMQ accepts any tags (only some mean something): trims, drops empties and duplicates. */
export function validateTags(tags: readonly string[]): string[] {
  const out = [...new Set(tags.map((t) => t.trim()).filter((t) => t !== ''))];
  if (out.length > MAX_TAGS) throw new UserAdminError(`at most ${MAX_TAGS} tags`);
  for (const t of out) {
    if (t.length > MAX_TAG_LENGTH || /[\s,]/.test(t) || hasControlCharacter(t)) {
      throw new UserAdminError(`bad tag ${JSON.stringify(t.slice(0, MAX_TAG_LENGTH))}`);
    }
  }
  return out;
}

/** C0 controls and DEL: NUL separates parts of metadata keys, and the rest make logs and tables lie. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
