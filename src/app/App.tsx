export function App() {
  return (
    <main>
      <h1>Merge Studio</h1>
    </main>
  );
}
