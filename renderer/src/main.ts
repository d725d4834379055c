/** Renderer entry: Vue app + Pinia. The transport (IPC or WebSocket) is chosen in api/index.ts. */
import { createApp } from 'vue';
import { createPinia } from 'pinia';
import App from './App.vue';
import './style.css';

createApp(App).use(createPinia()).mount('#app');
