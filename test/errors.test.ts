import { describe, expect, it } from 'vitest';
import { PunchlineError } from '../src/errors.js';

describe('PunchlineError', () => {
  it('keeps a stable code and its class name', () => {
    const error = new PunchlineError('ERR_PUNCHLINE_TEST', 'boom');
    expect(error.code).toBe('ERR_PUNCHLINE_TEST');
    expect(error.name).toBe('PunchlineError');
    expect(error).toBeInstanceOf(Error);
  });
});
