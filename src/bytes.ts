/**
 * Byte counts as people read them in messages (`64 MiB`, `16 KiB`, `1000 bytes`). A module of its
 * own so that error messages, option checks and limit checks print sizes one way, without
 * `./errors` (the public error classes) carrying a formatting helper.
 * @example formatBytes(64 * 1024 * 1024) // '64 MiB'
 */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
