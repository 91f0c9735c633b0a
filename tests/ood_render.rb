# Render one of the Open OnDemand app's ERB templates as the dashboard does: with
# trim_mode "-", the form's values answering as methods of the template's context.
# Usage: ruby tests/ood_render.rb TEMPLATE '{"cluster": "pegasus", ...}'
require "erb"
require "json"

template, values = ARGV.fetch(0), JSON.parse(ARGV.fetch(1))
context = Object.new
values.each { |name, value| context.define_singleton_method(name) { value } }
print ERB.new(File.read(template), trim_mode: "-").result(context.instance_eval { binding })
