# Managed by noops.platform.supervisor_config; edits are overwritten on the next deploy.
# noops-name: ticker
# noops-backend: god
# noops-command: python3 -m http.server 8000
# noops-reload-signal: HUP
# noops-crash-loop: 3/600

# god 0.13 could lose the crash-loop rule's transition: queued operations go before due checks;
# a removed watch's driver ends without a FATAL log line.
if defined?(God::DriverOperation) && !God::TimedEvent.method_defined?(:noops_operations_first)
  class God::TimedEvent
    def noops_operations_first; end

    def <=>(other)
      mine = is_a?(God::DriverOperation) ? 0 : 1
      theirs = other.is_a?(God::DriverOperation) ? 0 : 1
      mine == theirs ? at <=> other.at : mine <=> theirs
    end
  end

  class God::DriverEventQueue
    alias_method :noops_pop, :pop

    def pop
      loop do
        event = noops_pop
        return event if event
        raise ThreadError, 'queue empty' if @shutdown
      end
    end
  end
end

God.watch do |w|
  w.name = 'ticker'
  w.interval = 5.seconds
  w.start = 'python3 -m http.server 8000'
  w.stop = lambda do
    pid = w.pid
    next unless pid
    begin
      ::Process.kill('TERM', -pid)
    rescue Errno::ESRCH, Errno::EPERM
      ::Process.kill('TERM', pid) rescue nil
    end
    deadline = Time.now + 10
    alive = lambda { |p| (File.read("/proc/#{p}/stat") !~ /\) [ZX] /) rescue false }
    sleep 0.2 while Time.now < deadline && alive.call(pid)
    ::Process.kill('KILL', -pid) rescue nil
  end
  w.stop_timeout = 10.seconds
  w.start_if do |start|
    start.condition(:process_running) do |c|
      c.interval = 5.seconds
      c.running = false
    end
  end
  w.lifecycle do |on|
    on.condition(:flapping) do |c|
      c.to_state = [:start, :restart]
      c.times = 3
      c.within = 600.seconds
      c.transition = :unmonitored
    end
  end
end
