import { Component, type ReactNode } from 'react';

/** A panel that throws shows its error in place; the rest of the studio keeps working. */
export class ErrorBoundary extends Component<{ name: string; children: ReactNode }, { error: Error | null }> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <section className="panel" role="alert">
        <h2>{this.props.name}</h2>
        <p className="error">This panel failed: {this.state.error.message}</p>
        <button type="button" onClick={() => this.setState({ error: null })}>Retry</button>
      </section>
    );
  }
}
