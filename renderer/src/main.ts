import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { installWsApiIfNeeded } from './bridge/ws-api';
import './style.css';
import './focus.css';

// Served by `vhdsnap serve` (no Electron preload): talk to main over the loopback WebSocket.
installWsApiIfNeeded();

createApp(App).use(createPinia()).mount('#app');
