// Shared set-up for component tests: a fresh Pinia, the fake bridge, and a
// library with the "lab" folder open.
import { flushPromises } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { useLibraryStore } from '../../renderer/src/stores/library.js';
import { installFake, type FakeApi } from './fake-api.js';

export async function openLab(): Promise<{ fake: FakeApi; pinia: Pinia; library: ReturnType<typeof useLibraryStore> }> {
  const fake = installFake();
  const pinia = createPinia();
  setActivePinia(pinia);
  const library = useLibraryStore();
  await library.openFolder();
  await flushPromises();
  return { fake, pinia, library };
}
