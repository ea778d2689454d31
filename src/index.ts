export { PunchlineError } from './errors.js';
