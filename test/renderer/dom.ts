// The few DOM shapes the tests touch, typed locally: the root tsconfig (which
// also checks the tests) has no DOM lib, and adding it would hide DOM use in core/.
export interface InputLike {
  checked: boolean;
  value: string;
}
export interface SelectLike {
  options: ArrayLike<{ value: string; text: string }>;
  value: string;
}
export const asInput = (el: unknown) => el as InputLike;
export const asSelect = (el: unknown) => el as SelectLike;
/** happy-dom's window, which vitest makes the global object. */
export const page = globalThis as unknown as {
  localStorage: { clear(): void };
  dispatchEvent(e: Event): boolean;
};
